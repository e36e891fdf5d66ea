// Crash safety of revocation: the real `policy-sidecar revoke-scan` and `sync` are SIGKILLed at
// random instants (and at the test-only crash points of sidecar/sync/checkpoint.h) while
// violations keep arriving, then run again; after every iteration the ledger and Vault (the
// real vault-emulator over TLS) must say that each violation was handled exactly once.
//
// Each iteration: promote a few agents (so there is something to demote), log in as two of
// them through AppRole (credentials the revocation must take away if they are demoted
// afterwards), write violations (random severities, types, unknown agents), start
// `revoke-scan` and `sync --wait` (violations keep being written meanwhile) and kill them:
//   mode 0  revoke-scan at outbox.before_commit:1 (inside its first demotion's transaction),
//           sync at a random instant
//   mode 1  revoke-scan at outbox.before_commit:2 (a later demotion of the same pass, other
//           batches committed), sync at sync.after_write:1 (the push reached Vault, unmarked)
//   mode 2  revoke-scan at a random instant, sync at sync.after_claim:1
//   mode 3  revoke-scan at a random instant, sync at sync.before_finish:1
//   mode 4  revoke-scan completes; sync killed while the token listing of its revoke step
//           hangs in Vault (during the Vault-side steps)
//   mode 5  two revoke-scans at once, one killed at a random instant; sync at a random instant
// Then a clean `revoke-scan` and `sync --wait` must exit 0, and:
//   - every violation has exactly one outcome row, violation-sourced demotions == demoting
//     violations, each pointing at its violation (exactly_once_problems);
//   - the tiers and outcomes are what the config's rules give applied once in id order;
//   - every role in Vault holds its tier's policies;
//   - a token / secret ID the agent held before a demoting violation is refused (403, gone)
//     and stays so; one of an agent not demoted since is still valid.
// Iterations: 50 (PS_SOAK_ITERATIONS=N for more).
#include <signal.h>

#include <boost/test/unit_test.hpp>
#include <map>
#include <random>
#include <thread>

#include "tests/integration/revocation/revocation_support.h"
#include "tests/integration/sync/sync_harness.h"

using namespace ps::sidecar::itest;
using namespace ps::testing::revocation;
using ps::testing::RawLedger;
using nlohmann::json;
using namespace std::chrono;

namespace {

constexpr int kAgents = 8;

// Not the defaults: medium demotes one tier, two violation types have their own rules, and the
// Vault-side steps include revoking tokens. Every process must apply these.
const json kRevocation = {
    {"cooldown_days", 0},
    {"batch", 3},
    {"rules",
     {{"severity", {{"medium", "demote_one"}}},
      {"violation_type", {{"credential_leak", {{"demote_to", 0}}}, {"noise", "none"}}}}},
    {"vault", {{"destroy_secret_ids", true}, {"revoke_tokens", true}}}};

struct Held {
  std::string agent;
  VaultClient::Credentials creds;
  std::int64_t violations_before = 0;  // the highest violation id when it was issued
  bool revoked = false;                // seen revoked (must stay so)
};

}  // namespace

BOOST_AUTO_TEST_SUITE(revocation_crash)

BOOST_AUTO_TEST_CASE(sigkill_during_revocation_handles_every_violation_exactly_once) {
  const int iterations = env_int("PS_SOAK_ITERATIONS", 50);
  WorldOptions o;
  o.revocation = kRevocation;
  o.sync = {{"batch_size", 2}, {"backoff", {{"initial_ms", 50}, {"max_ms", 200}}}};
  SyncWorld w(o);
  VaultClient vault(w.emu->address(), w.pki.ca, w.root_token);
  const RuleModel rules(kRevocation);
  const auto agents = SyncWorld::names("k", kAgents);
  std::map<std::string, std::int64_t> model;
  {
    RawLedger raw(w.db);
    for (int i = 0; i < kAgents; ++i) {
      model[agents[i]] = 1 + i % 4;
      raw.metrics(agents[i], model[agents[i]], 0, 0);
      vault.put_role(SyncWorld::role_of(agents[i]), tier_policies(model[agents[i]]));
    }
  }

  std::mt19937 rng(20270314);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const char* severities[] = {"critical", "high", "medium", "low", " High ", "CRITICAL", "urgent", ""};
  const char* types[] = {"scope_exceeded", "credential_leak", "noise", "data_exfiltration"};
  auto write_violations = [&](int n) {
    RawLedger raw(w.db);
    for (int i = 0; i < n; ++i) {
      NewViolation v;
      v.agent = pick(0, 12) == 0 ? "ghost" : agents[static_cast<std::size_t>(pick(0, kAgents - 1))];
      v.severity = severities[pick(0, 7)];
      v.violation_type = types[pick(0, 3)];
      v.acknowledged = pick(0, 5) == 0;
      insert_violation(raw, v);
    }
  };

  std::vector<Held> held;
  std::map<std::string, int> kills;
  std::int64_t demoting_total = 0;
  const auto started = steady_clock::now();
  for (int it = 0; it < iterations; ++it) {
    BOOST_TEST_CONTEXT("iteration " << it) {
      // Agents back up, so that demotions keep happening.
      std::vector<std::string> up;
      for (const auto& a : agents) {
        if (model[a] < 4 && pick(0, 2) != 0) up.push_back(a);
      }
      w.promote_in_process(up);
      for (const auto& a : up) ++model[a];

      const std::int64_t top_before = w.sql_int("SELECT COALESCE(MAX(id), 0) FROM violations");
      for (int i = 0; i < 2; ++i) {
        const auto& a = agents[static_cast<std::size_t>(pick(0, kAgents - 1))];
        held.push_back({a, vault.login(SyncWorld::role_of(a)), top_before, false});
      }

      write_violations(pick(1, 3));
      const int mode = it % 6;
      std::vector<std::string> scan_env, sync_env;
      std::optional<milliseconds> kill_scan, kill_sync;
      switch (mode) {
        case 0:
          scan_env.push_back("PS_TEST_CRASH_AT=outbox.before_commit:1");
          kill_sync = milliseconds{pick(0, 80)};
          break;
        case 1:
          scan_env.push_back("PS_TEST_CRASH_AT=outbox.before_commit:2");
          sync_env.push_back("PS_TEST_CRASH_AT=sync.after_write:1");
          break;
        case 2:
          kill_scan = milliseconds{pick(0, 30)};
          sync_env.push_back("PS_TEST_CRASH_AT=sync.after_claim:1");
          break;
        case 3:
          kill_scan = milliseconds{pick(0, 30)};
          sync_env.push_back("PS_TEST_CRASH_AT=sync.before_finish:1");
          break;
        case 4:
          w.emu->fault({{"kind", "hang"}, {"hang_ms", 300}, {"count", 1},
                        {"match", "auth/token/accessors"}});
          kill_sync = milliseconds{pick(40, 320)};
          break;
        default:
          kill_scan = milliseconds{pick(0, 30)};
          kill_sync = milliseconds{pick(0, 150)};
          break;
      }
      // Kills from outside, each at its instant after that process started.
      std::vector<std::pair<steady_clock::time_point, Child*>> timers;
      auto scan = w.spawn({"revoke-scan"}, scan_env);
      if (kill_scan) timers.emplace_back(steady_clock::now() + *kill_scan, scan.get());
      std::unique_ptr<Child> second_scan;
      if (mode == 5) second_scan = w.spawn({"revoke-scan"});
      if (mode == 4) {
        // The steps come from this scan's demotions: let it finish first.
        BOOST_TEST(scan->wait() == 0, scan->out() << scan->err());
      }
      auto sync = w.spawn({"sync", "--wait", "10"}, sync_env);
      if (kill_sync) timers.emplace_back(steady_clock::now() + *kill_sync, sync.get());
      write_violations(pick(0, 2));  // arriving while they run
      std::sort(timers.begin(), timers.end(),
                [](const auto& a, const auto& b) { return a.first < b.first; });
      for (const auto& [at, child] : timers) {
        std::this_thread::sleep_until(at);
        child->kill(SIGKILL);
      }
      const int scan_rc = scan->wait();
      const int sync_rc = sync->wait();
      if (second_scan) BOOST_TEST(second_scan->wait() == 0, second_scan->out() << second_scan->err());
      static const char* kScanWindows[] = {"revoke-scan at outbox.before_commit:1",
                                           "revoke-scan at outbox.before_commit:2",
                                           "revoke-scan at random", "revoke-scan at random", "",
                                           "revoke-scan at random (two running)"};
      static const char* kSyncWindows[] = {"sync at random", "sync at sync.after_write:1",
                                           "sync at sync.after_claim:1",
                                           "sync at sync.before_finish:1",
                                           "sync during the revoke step", "sync at random"};
      if (scan_rc == 128 + SIGKILL) ++kills[kScanWindows[mode]];
      if (sync_rc == 128 + SIGKILL) ++kills[kSyncWindows[mode]];
      BOOST_TEST((scan_rc == 0 || scan_rc == 128 + SIGKILL), "revoke-scan exited " << scan_rc
                                                                << scan->out() << scan->err());
      w.emu->clear_faults();

      // Restart: the next runs pick up whatever the killed ones left.
      const auto rescan = w.cli({"revoke-scan"});
      BOOST_REQUIRE_MESSAGE(rescan.exit_code == 0, rescan.out << rescan.err);
      const auto resync = w.cli({"sync", "--wait", "20"});
      BOOST_REQUIRE_MESSAGE(resync.exit_code == 0, resync.out << resync.err);

      // The ledger: exactly once, and the rules applied once in id order.
      RawLedger raw(w.db);
      const auto problems = exactly_once_problems(raw);
      BOOST_TEST(problems.empty(), problems.size() << " problems, first: "
                                                   << (problems.empty() ? "" : problems.front()));
      const auto expected = replay(raw, rules, model, top_before);
      BOOST_TEST(text(ledger_tiers(raw)) == text(expected.tiers));
      for (const auto& [vid, outcome] : expected.outcomes) {
        BOOST_TEST(raw.text("SELECT outcome FROM sidecar_violation_outcomes WHERE violation_id = " +
                            std::to_string(vid)) == outcome,
                   "violation " << vid);
      }
      demoting_total += expected.demoting;
      model = expected.tiers;
      BOOST_TEST(raw.integer("SELECT COUNT(*) FROM sidecar_demotions WHERE source = 'violation'") ==
                 demoting_total);
      BOOST_TEST(raw.integer("SELECT COUNT(*) FROM sidecar_outbox WHERE state <> 'synced'") == 0);
      BOOST_TEST(raw.integer("SELECT COUNT(*) FROM sidecar_revocation_steps WHERE state <> 'done'") == 0);

      // Vault: the roles, and the credentials held before a demotion.
      for (const auto& a : agents) {
        BOOST_TEST(text(vault.role_policies(SyncWorld::role_of(a))) == text(tier_policies(model[a])), a);
      }
      for (Held& h : held) {
        const bool demoted_since =
            raw.integer("SELECT COUNT(*) FROM sidecar_violation_outcomes WHERE outcome = 'demoted' "
                        "AND agent_id = " + ps::testing::q(h.agent) + " AND violation_id > " +
                        std::to_string(h.violations_before)) > 0;
        const int lookup = vault.lookup_self(h.creds.token);
        const bool secret = vault.has_secret_id(h.creds.role, h.creds.secret_id_accessor);
        if (demoted_since || h.revoked) {
          BOOST_TEST(lookup == 403, h.agent << " token issued before its demotion");
          BOOST_TEST(!secret, h.agent << " secret ID created before its demotion");
          h.revoked = true;
        } else {
          BOOST_TEST(lookup == 200, h.agent << " token of an agent not demoted since");
          BOOST_TEST(secret, h.agent << " secret ID of an agent not demoted since");
        }
      }
    }
  }
  std::size_t revoked = 0;
  for (const Held& h : held) revoked += h.revoked ? 1 : 0;
  std::size_t killed = 0;
  for (const auto& [window, n] : kills) {
    killed += static_cast<std::size_t>(n);
    BOOST_TEST_MESSAGE(window << ": " << n << " kills");
  }
  BOOST_TEST_MESSAGE(iterations << " iterations in " << duration<double>(steady_clock::now() - started).count()
                                << " s; " << w.sql_int("SELECT COUNT(*) FROM violations")
                                << " violations, " << demoting_total << " demoting; " << held.size()
                                << " logins, " << revoked << " revoked; " << killed << " processes killed");
  BOOST_TEST(demoting_total > 0);
  BOOST_TEST(revoked > 0u);
  BOOST_TEST(killed > static_cast<std::size_t>(iterations) / 2);
  for (const char* window : {"revoke-scan at outbox.before_commit:1", "revoke-scan at random",
                             "sync at sync.after_write:1", "sync at random"}) {
    BOOST_WARN_MESSAGE(kills[window] > 0, window << " was never hit");
  }
}

BOOST_AUTO_TEST_SUITE_END()
