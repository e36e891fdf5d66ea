// Faults between the real policy-sidecar and the real vault-emulator: each converges once the
// fault clears, with nothing lost. Faults come from the emulator's admin API (seal, status,
// hang, drop, token expire/revoke).
#include <signal.h>
#include <sys/stat.h>

#include <boost/test/unit_test.hpp>
#include <fstream>
#include <thread>

#include "engine/rules/timestamp.h"
#include "tests/integration/sync/sync_harness.h"

using namespace ps::sidecar::itest;
using nlohmann::json;
using PL = std::vector<std::string>;
using namespace std::chrono;

namespace {

const std::string kRolePaths = "/v1/auth/approle/role/";

void require_all_synced(SyncWorld& w, const std::vector<std::string>& agents, const PL& expected) {
  BOOST_TEST(w.sql_int("SELECT COUNT(*) FROM sidecar_outbox WHERE state != 'synced'") == 0);
  BOOST_TEST(w.sql_int("SELECT COUNT(*) FROM sidecar_outbox WHERE generation != "
                       "synced_generation") == 0);
  for (const auto& a : agents) {
    auto r = w.role(a);
    BOOST_REQUIRE_MESSAGE(r.has_value(), a);
    BOOST_TEST(*r == expected, a);
  }
}

// Agents at tier 0 with roles, promoted (outbox rows pending).
std::vector<std::string> pending_agents(SyncWorld& w, int n, bool make_roles = true) {
  auto agents = SyncWorld::names("f", n);
  w.add_agents("f", n, 0);
  if (make_roles) {
    for (const auto& a : agents) w.set_role(a, {"t0-observer"});
  }
  w.promote_in_one_transaction(agents);
  return agents;
}

int finish(Child& c, seconds limit = seconds{90}) {
  auto rc = c.wait_for(limit);
  if (!rc) {
    c.kill(SIGKILL);
    BOOST_FAIL("sync did not finish: " << c.err());
  }
  return *rc;
}

milliseconds since(steady_clock::time_point t) {
  return duration_cast<milliseconds>(steady_clock::now() - t);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(sync_faults)

// 1,000 pending agents while Vault is sealed: the requests during the sealed period follow the
// workers' shared pause schedule (each pause at least half its ceiling), not the number of
// agents nor of workers: the 4 workers (sync.workers default) pause together and probe one at
// a time; only the first failure can meet one push already in flight per other worker.
BOOST_AUTO_TEST_CASE(sealed_vault_traffic_follows_the_backoff_and_converges_after_unseal) {
  WorldOptions o;
  o.sync = {{"backoff", {{"initial_ms", 200}, {"multiplier", 2}, {"max_ms", 2000}}}};
  o.roles = {{"missing_role", "create"}};
  const auto t0 = steady_clock::now();
  SyncWorld w(o);
  auto agents = pending_agents(w, 1000, false);
  BOOST_TEST_MESSAGE("setup " << since(t0).count() << " ms");
  const auto before = w.requests(kRolePaths);
  w.emu->seal();
  const auto sealed_at = steady_clock::now();
  auto child = w.spawn({"sync", "--wait", "120"});
  std::this_thread::sleep_for(seconds{5});
  w.emu->unseal();
  const milliseconds sealed_for = since(sealed_at);  // an upper bound of the sealed window
  BOOST_TEST(finish(*child) == 0, child->out() << child->err());
  BOOST_TEST_MESSAGE("drained " << since(sealed_at).count() << " ms after sealing");

  constexpr std::size_t kWorkers = 4;
  std::size_t bound = kWorkers;  // the first push, and one in flight per other worker
  milliseconds floor_sum{0};
  for (int n = 0;; ++n) {
    const milliseconds ceiling = std::min(milliseconds{200} * (1 << std::min(n, 20)),
                                          milliseconds{2000});
    floor_sum += ceiling / 2;
    if (floor_sum > sealed_for) break;
    ++bound;
  }
  const std::size_t sealed_answers = w.requests(kRolePaths, 503);
  BOOST_TEST(sealed_answers >= 1u);
  BOOST_TEST(sealed_answers <= bound, sealed_answers << " sealed answers, bound " << bound);
  BOOST_TEST(w.requests(kRolePaths) - before >= 3000u);  // after unseal: read, create, read back
  require_all_synced(w, agents, {"t1-observer"});
  BOOST_TEST(w.sql_int("SELECT COUNT(*) FROM sidecar_sync_history WHERE outcome = 'parked'") == 0);
}

BOOST_AUTO_TEST_CASE(server_error_bursts_converge) {
  WorldOptions o;
  o.sync = {{"backoff", {{"initial_ms", 50}, {"max_ms", 300}}}};
  SyncWorld w(o);
  auto agents = pending_agents(w, 20);
  for (int status : {500, 502, 503}) {
    w.emu->fault({{"kind", "status"}, {"status", status}, {"count", 3}, {"match", kRolePaths},
                  {"errors", {"internal error"}}});
  }
  auto r = w.cli({"sync", "--wait", "60"});
  BOOST_TEST(r.exit_code == 0, r.out << r.err);
  for (int status : {500, 502, 503}) BOOST_TEST(w.requests(kRolePaths, status) == 3u);
  require_all_synced(w, agents, {"t1-observer"});
  BOOST_TEST(w.sql_int("SELECT COUNT(*) FROM sidecar_sync_history WHERE outcome = 'retry' AND "
                       "error_code = 'server_error'") == 9);
}

// One worker, so that "the next request after the 429" is that worker's (with several, a
// sibling's push already in flight lands right after it; the shared pause is pinned above).
BOOST_AUTO_TEST_CASE(rate_limited_429_retry_after_is_honoured) {
  WorldOptions o;
  o.sync = {{"workers", 1}};
  SyncWorld w(o);
  auto agents = pending_agents(w, 5);
  w.emu->fault({{"kind", "status"}, {"status", 429}, {"count", 1}, {"match", kRolePaths},
                {"retry_after", 2}, {"errors", {"rate limit quota exceeded"}}});
  auto r = w.cli({"sync", "--wait", "60"});
  BOOST_TEST(r.exit_code == 0, r.out << r.err);
  require_all_synced(w, agents, {"t1-observer"});
  // After the 429 the whole worker waited Retry-After before its next request to Vault.
  const auto log = w.emu->vault_requests();
  std::optional<ps::engine::WallTime> limited_at, next_at;
  for (const auto& entry : log) {
    if (entry.value("path", "").rfind(kRolePaths, 0) != 0) continue;
    const auto ts = ps::engine::parse_iso8601(entry.value("ts", ""));
    BOOST_REQUIRE(ts.has_value());
    if (!limited_at && entry.value("status", 0) == 429) {
      limited_at = ts;
    } else if (limited_at && !next_at) {
      next_at = ts;
    }
  }
  BOOST_REQUIRE(limited_at && next_at);
  // (the log has millisecond timestamps, truncated)
  BOOST_TEST((*next_at - *limited_at >= milliseconds{1999}));
  BOOST_TEST(w.sql_int("SELECT COUNT(*) FROM sidecar_sync_history WHERE outcome = 'retry' AND "
                       "error_code = 'rate_limited'") == 1);
}

BOOST_AUTO_TEST_CASE(hung_responses_time_out_and_converge) {
  WorldOptions o;
  o.vault = {{"timeout_s", 1}};
  SyncWorld w(o);
  auto agents = pending_agents(w, 5);
  w.emu->fault({{"kind", "hang"}, {"hang_ms", 3000}, {"count", 2}, {"match", kRolePaths}});
  auto r = w.cli({"sync", "--wait", "60"});
  BOOST_TEST(r.exit_code == 0, "exit " << r.exit_code << ": " << r.out << r.err);
  require_all_synced(w, agents, {"t1-observer"});
  BOOST_TEST(w.sql_int("SELECT COUNT(*) FROM sidecar_sync_history WHERE outcome = 'retry' AND "
                       "error_code IN ('timeout', 'transport')") >= 1);
}

BOOST_AUTO_TEST_CASE(dropped_connections_converge) {
  SyncWorld w;
  auto agents = pending_agents(w, 10);
  w.emu->fault({{"kind", "drop"}, {"count", 4}, {"match", kRolePaths}});
  auto r = w.cli({"sync", "--wait", "60"});
  BOOST_TEST(r.exit_code == 0, r.out << r.err);
  require_all_synced(w, agents, {"t1-observer"});
  BOOST_TEST(w.sql_int("SELECT COUNT(*) FROM sidecar_sync_history WHERE outcome = 'retry' AND "
                       "error_code = 'transport'") >= 1);
}

// The sidecar logs in with AppRole; its token is expired (then, in a second run, revoked)
// while a push hangs. It logs in again and finishes, nothing parked.
BOOST_AUTO_TEST_CASE(own_token_expired_or_revoked_mid_run_is_replaced_by_a_new_login) {
  for (const std::string action : {"expire", "revoke"}) {
    SyncWorld w;
    w.emu->put_policy("sidecar",
                      {{"path",
                        {{"auth/approle/role/+/policies", {{"capabilities", {"read", "update"}}}},
                         {"auth/token/lookup-self", {{"capabilities", {"read"}}}}}}});
    w.emu->make_approle(w.vdir, "policy-sidecar", {{"token_policies", {"sidecar"}}});
    const std::string role_id = w.vdir.file("policy-sidecar.role_id");
    const std::string secret_id = w.vdir.file("policy-sidecar.secret_id");
    ::chmod(role_id.c_str(), 0600);
    ::chmod(secret_id.c_str(), 0600);
    WorldOptions o;
    o.vault = {{"timeout_s", 10},
               {"auth", {{"method", "approle"}, {"role_id_file", role_id},
                         {"secret_id_file", secret_id}}}};
    w.write_config(o);
    auto agents = pending_agents(w, 30);
    w.emu->fault({{"kind", "hang"}, {"hang_ms", 1500}, {"count", 1}, {"match", kRolePaths}});
    auto child = w.spawn({"sync", "--wait", "60"}, {"VAULT_TOKEN="});
    std::vector<std::string> accessors;
    for (int i = 0; i < 100 && accessors.empty(); ++i) {
      std::this_thread::sleep_for(milliseconds{20});
      accessors = w.login_accessors("policy-sidecar");
    }
    BOOST_REQUIRE_MESSAGE(!accessors.empty(), "the sidecar did not log in: " << child->err());
    w.emu->admin("POST", "/_emulator/tokens/" + action, {{"accessor", accessors[0]}});
    BOOST_TEST(finish(*child) == 0, action << ": " << child->out() << child->err());
    require_all_synced(w, agents, {"t1-observer"});
    BOOST_TEST(w.requests(kRolePaths, 403) >= 1u, action);
    BOOST_TEST(w.requests("/v1/auth/approle/login", 200) >= 2u, action);
    BOOST_TEST(w.sql_int("SELECT COUNT(*) FROM sidecar_outbox WHERE state = 'failed'") == 0);
    // The secret id never reaches the output.
    std::ifstream in(secret_id);
    std::string secret;
    std::getline(in, secret);
    BOOST_TEST(child->err().find(secret) == std::string::npos);
    BOOST_TEST(child->out().find(secret) == std::string::npos);
  }
}

BOOST_AUTO_TEST_SUITE_END()
