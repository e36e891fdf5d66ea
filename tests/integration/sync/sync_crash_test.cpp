// Crash safety: the real policy-sidecar is SIGKILLed at random instants while it records tier
// changes and pushes them to the real vault-emulator over TLS, then restarted; after every
// restart has drained the outbox, the ledger and Vault must agree and nothing may be lost.
//
// Each iteration queues a few tier changes (promote / demote CLI processes) and runs
// `sync --wait`, killing one of them. The kill instant rotates through windows that a random
// timer alone would rarely hit (test-only crash points, PS_TEST_CRASH_AT, see
// sidecar/sync/checkpoint.h):
//   outbox.before_commit   inside the tier change's transaction (promote/demote killed)
//   sync.after_claim       after the rows are leased, before any push (commit -> push)
//   sync.after_write       after the write reached Vault, before the read-back (mid-push)
//   sync.before_finish     after the read-back, before the rows are marked (push -> mark)
// plus SIGKILL from outside at a random delay: of `sync` while its write hangs in the
// emulator (during the push), of `sync` at any moment, and of a promote at any moment.
//
// After each iteration a clean `sync` must exit 0, and:
//   - per agent, its promotions and sidecar_demotions rows chain from its first tier to its
//     ledger tier (every committed change exactly once: a duplicate or a lost row breaks the
//     chain), and no change the CLI reported as done is missing;
//   - its outbox row says the ledger tier and its generation equals the number of committed
//     changes (the row and the change commit together), synced at that generation;
//   - no generation ever goes backwards between iterations;
//   - Vault's token_policies for every agent equal the ledger's desired set.
#include <signal.h>

#include <boost/test/unit_test.hpp>
#include <map>
#include <random>
#include <thread>

#include "tests/integration/sync/sync_harness.h"

using namespace ps::sidecar::itest;
using PL = std::vector<std::string>;
using namespace std::chrono;

namespace {

constexpr int kAgents = 30;
constexpr int kIterations = 120;

PL tier_list(std::int64_t tier) { return {"t" + std::to_string(tier) + "-observer"}; }

struct Model {
  std::map<std::string, std::int64_t> tier;            // as the ledger says after each iteration
  std::map<std::string, std::int64_t> generation;      // last seen outbox generation
  std::map<std::string, std::int64_t> reported_done;   // changes the CLI printed [OK] for
};

// One tier change as a CLI process; `crash` = PS_TEST_CRASH_AT for it, `kill_after` = SIGKILL
// from outside after that delay. True when the CLI reported it done.
bool change_tier(SyncWorld& w, const std::string& agent, std::int64_t from, bool promote,
                 std::int64_t to, const std::string& crash, std::optional<milliseconds> kill_after) {
  std::vector<std::string> args =
      promote ? std::vector<std::string>{"promote", agent, "--approved-by", "crash-harness",
                                         "--from-tier", std::to_string(from)}
              : std::vector<std::string>{"demote", agent, "--to-tier", std::to_string(to),
                                         "--reason", "crash harness", "--from-tier",
                                         std::to_string(from)};
  std::vector<std::string> env;
  if (!crash.empty()) env.push_back("PS_TEST_CRASH_AT=" + crash);
  auto child = w.spawn(args, env);
  if (kill_after) {
    std::this_thread::sleep_for(*kill_after);
    child->kill(SIGKILL);
  }
  const int rc = child->wait();
  return rc == 0 && child->out().find("[OK]") != std::string::npos;
}

void check_iteration(SyncWorld& w, Model& m, int iteration) {
  BOOST_TEST_CONTEXT("iteration " << iteration) {
    auto tiers = w.sql_rows("SELECT agent_id, current_tier FROM agent_metrics ORDER BY agent_id");
    auto desired = w.desired_sets();
    for (const auto& row : tiers) {
      const std::string agent = row.substr(0, row.find('|'));
      const std::int64_t tier = std::stoll(row.substr(row.find('|') + 1));
      // The chain of committed changes, oldest first.
      auto changes = w.sql_rows(
          "SELECT timestamp, from_tier, to_tier FROM promotions WHERE agent_id = '" + agent +
          "' UNION ALL SELECT timestamp, from_tier, to_tier FROM sidecar_demotions WHERE "
          "agent_id = '" + agent + "' ORDER BY 1");
      std::int64_t walk = 0;
      for (const auto& c : changes) {
        const auto a = c.find('|'), b = c.find('|', a + 1);
        const std::int64_t from = std::stoll(c.substr(a + 1, b - a - 1));
        const std::int64_t to = std::stoll(c.substr(b + 1));
        BOOST_TEST(from == walk, agent << ": change " << c << " does not start at tier " << walk);
        walk = to;
      }
      BOOST_TEST(walk == tier, agent);
      BOOST_TEST(static_cast<std::int64_t>(changes.size()) >= m.reported_done[agent], agent);
      m.tier[agent] = tier;

      const auto gen_rows = w.sql_rows(
          "SELECT generation, synced_generation, tier, state FROM sidecar_outbox WHERE "
          "agent_id = '" + agent + "'");
      if (changes.empty()) {
        BOOST_TEST(gen_rows.empty(), agent << ": outbox row without a tier change");
      } else {
        BOOST_REQUIRE_MESSAGE(gen_rows.size() == 1u, agent << ": tier change without outbox row");
        const std::string& g = gen_rows[0];
        std::vector<std::string> f;
        for (std::size_t p = 0, q; p <= g.size(); p = q + 1) {
          q = g.find('|', p);
          if (q == std::string::npos) q = g.size();
          f.push_back(g.substr(p, q - p));
        }
        const std::int64_t generation = std::stoll(f[0]);
        BOOST_TEST(generation == static_cast<std::int64_t>(changes.size()), agent);
        BOOST_TEST(std::stoll(f[1]) == generation, agent << " synced generation");
        BOOST_TEST(std::stoll(f[2]) == tier, agent);
        BOOST_TEST(f[3] == "synced", agent);
        BOOST_TEST(generation >= m.generation[agent], agent << ": generation went backwards");
        m.generation[agent] = generation;
      }
      const auto role = w.role(agent);
      BOOST_REQUIRE_MESSAGE(role.has_value(), agent << ": role missing");
      const PL expected = desired.count(agent) ? desired[agent] : tier_list(0);
      BOOST_TEST(*role == expected, agent << " in Vault");
      BOOST_TEST(*role == tier_list(tier), agent << " in Vault vs ledger tier");
    }
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(sync_crash)

BOOST_AUTO_TEST_CASE(sigkill_at_any_instant_loses_nothing_and_vault_converges) {
  WorldOptions o;
  o.sync = {{"batch_size", 2}, {"backoff", {{"initial_ms", 50}, {"max_ms", 200}}}};
  SyncWorld w(o);
  const auto agents = SyncWorld::names("c", kAgents);
  w.add_agents("c", kAgents, 0);
  for (const auto& a : agents) w.set_role(a, tier_list(0));

  std::mt19937 rng(20261125);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  Model m;
  for (const auto& a : agents) m.tier[a] = 0;
  std::map<std::string, int> kills;

  for (int it = 0; it < kIterations; ++it) {
    const int mode = it % 7;
    // A few tier changes; in mode 5 one of them is killed inside its transaction, in mode 6
    // one is killed from outside at a random instant.
    const int changes = pick(2, 4);
    const int victim = pick(0, changes - 1);
    for (int c = 0; c < changes; ++c) {
      const std::string& agent = agents[static_cast<std::size_t>(pick(0, kAgents - 1))];
      const std::int64_t from = m.tier[agent];
      const bool promote = from == 0 || (from < 4 && pick(0, 2) != 0);
      const std::int64_t to = promote ? from + 1 : pick(0, static_cast<int>(from) - 1);
      std::string crash;
      std::optional<milliseconds> kill_after;
      if (c == victim && mode == 5) crash = "outbox.before_commit:1";
      // A CLI tier change takes about 5 ms: a kill later than that would land after it.
      if (c == victim && mode == 6) kill_after = milliseconds{pick(0, 3)};
      if (change_tier(w, agent, from, promote, to, crash, kill_after)) {
        ++m.reported_done[agent];
        m.tier[agent] = to;
      } else {
        // Killed: committed or not, the ledger says which (checked below).
        auto t = w.sql_rows("SELECT current_tier FROM agent_metrics WHERE agent_id = '" +
                            agent + "'");
        m.tier[agent] = std::stoll(t.at(0));
        ++kills[mode == 5 ? "outbox.before_commit" : "promote/demote at random"];
      }
    }

    // The sync run that is killed.
    std::vector<std::string> env;
    std::optional<milliseconds> kill_after;
    switch (mode) {
      case 0: env.push_back("PS_TEST_CRASH_AT=sync.after_claim:" + std::to_string(pick(1, 2))); break;
      case 1: env.push_back("PS_TEST_CRASH_AT=sync.after_write:" + std::to_string(pick(1, 3))); break;
      case 2: env.push_back("PS_TEST_CRASH_AT=sync.before_finish:" + std::to_string(pick(1, 2))); break;
      case 3:
        // The write hangs in Vault; the kill lands during the push.
        w.emu->fault({{"kind", "hang"}, {"hang_ms", 250}, {"count", 1},
                      {"match", "/v1/auth/approle/role/"}, {"method", "POST"}});
        kill_after = milliseconds{pick(60, 260)};
        break;
      default: kill_after = milliseconds{pick(0, 60)}; break;
    }
    auto sync = w.spawn({"sync", "--wait", "10"}, env);
    if (kill_after) {
      std::this_thread::sleep_for(*kill_after);
      sync->kill(SIGKILL);
    }
    const int rc = sync->wait();
    if (rc == 128 + SIGKILL) {
      static const char* kWindows[] = {"sync.after_claim", "sync.after_write",
                                       "sync.before_finish", "sync during a hung write",
                                       "sync at random", "sync at random", "sync at random"};
      ++kills[kWindows[mode]];
    }
    w.emu->clear_faults();

    // Restart: the next run picks everything up (leases of the dead process are broken).
    auto restart = w.cli({"sync", "--wait", "20"});
    BOOST_REQUIRE_MESSAGE(restart.exit_code == 0, "iteration " << it << ": restart exited "
                                                                << restart.exit_code << "\n"
                                                                << restart.out << restart.err);
    check_iteration(w, m, it);
  }
  for (const auto& [window, n] : kills) BOOST_TEST_MESSAGE(window << ": " << n << " kills");
  // Every window was hit.
  for (const char* window : {"outbox.before_commit", "promote/demote at random",
                             "sync.after_claim", "sync.after_write", "sync.before_finish",
                             "sync during a hung write", "sync at random"}) {
    BOOST_TEST(kills[window] > 0, window);
  }
  BOOST_TEST(w.sql_int("SELECT COUNT(*) FROM sidecar_sync_history WHERE outcome = 'synced'") > 0);
}

BOOST_AUTO_TEST_SUITE_END()
