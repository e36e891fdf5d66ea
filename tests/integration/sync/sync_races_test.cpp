// Races between real processes: a promotion and a demotion of the same agent close together
// while a sync daemon-like process runs; two sync processes on one ledger.
#include <signal.h>

#include <boost/test/unit_test.hpp>
#include <atomic>
#include <set>
#include <thread>

#include "tests/integration/sync/sync_harness.h"

using namespace ps::sidecar::itest;
using PL = std::vector<std::string>;
using namespace std::chrono;

namespace {

void ok(const ps::testing::ProcessResult& r, const std::string& what) {
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, what << " exited " << r.exit_code << "\nstdout: "
                                               << r.out << "\nstderr: " << r.err);
}

// Every outbox row synced at its generation and every role equal to its row's desired set.
void check_converged(SyncWorld& w) {
  BOOST_TEST(w.sql_int("SELECT COUNT(*) FROM sidecar_outbox WHERE state != 'synced' OR "
                       "synced_generation != generation") == 0);
  for (const auto& [agent, desired] : w.desired_sets()) {
    auto r = w.role(agent);
    BOOST_REQUIRE_MESSAGE(r.has_value(), agent);
    PL managed;  // the default tier lists: t0-observer .. t4-observer
    for (const auto& p : *r) {
      if (p.size() == 11 && p[0] == 't' && p.substr(2) == "-observer") managed.push_back(p);
    }
    BOOST_TEST(managed == desired, agent);
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(sync_races)

// While sync runs back to back (as cron would, but without pause), each agent is promoted
// and at once demoted (two CLI processes). Whatever the interleaving with the pushes, Vault
// ends with the demotion's list and the unmanaged policy kept.
BOOST_AUTO_TEST_CASE(promotion_then_demotion_close_together_end_with_the_demotion) {
  SyncWorld w;
  const auto agents = SyncWorld::names("r", 12);
  w.add_agents("r", 12, 2);
  for (const auto& a : agents) w.set_role(a, {"t2-observer", "keep-me"});
  std::atomic<bool> stop{false};
  std::atomic<int> runs{0};
  std::thread syncer([&] {
    while (!stop.load()) {
      w.cli({"sync"});
      ++runs;
    }
  });
  for (const auto& a : agents) {
    ok(w.cli({"promote", a, "--approved-by", "ops"}), "promote");
    ok(w.cli({"demote", a, "--to-tier", "0", "--reason", "violation"}), "demote");
  }
  stop.store(true);
  syncer.join();
  BOOST_TEST(runs.load() > 1);
  ok(w.cli({"sync", "--wait", "30"}), "final sync");
  for (const auto& a : agents) {
    BOOST_TEST(*w.role(a) == (PL{"keep-me", "t0-observer"}), boost::test_tools::per_element());
    BOOST_TEST(w.sql_int("SELECT tier FROM sidecar_outbox WHERE agent_id = '" + a + "'") == 0);
  }
  check_converged(w);
}

// Two sync processes drain one ledger at the same time while tier changes keep arriving:
// leases keep them off each other's rows (no generation of an agent is pushed and marked twice)
// and Vault ends equal to the ledger.
BOOST_AUTO_TEST_CASE(two_sync_processes_on_one_ledger_never_leave_vault_wrong) {
  WorldOptions o;
  o.sync = {{"batch_size", 25}, {"poll_interval_ms", 20}};
  o.roles = {{"missing_role", "create"}};
  SyncWorld w(o);
  const auto agents = SyncWorld::names("t", 400);
  w.add_agents("t", 400, 0);
  w.promote_in_one_transaction(agents);
  auto a = w.spawn({"sync", "--wait", "60"});
  auto b = w.spawn({"sync", "--wait", "60"});
  // More changes while both run: a second promotion of some agents, demotions of others.
  for (int i = 0; i < 10; ++i) {
    ok(w.cli({"promote", agents[static_cast<std::size_t>(i * 7)], "--approved-by", "ops"}), "promote");
    ok(w.cli({"demote", agents[static_cast<std::size_t>(i * 11 + 3)], "--to-tier", "0", "--reason", "r"}),
       "demote");
  }
  const int ra = a->wait(), rb = b->wait();
  BOOST_TEST(ra == 0, a->out() << a->err());
  BOOST_TEST(rb == 0, b->out() << b->err());
  ok(w.cli({"sync"}), "final sync");  // nothing left: exits 0 at once
  check_converged(w);
  // Both took part, and no (agent, generation) was marked synced twice.
  BOOST_TEST(w.sql_int("SELECT COUNT(*) FROM (SELECT agent_id, generation FROM "
                       "sidecar_sync_history WHERE outcome = 'synced' GROUP BY agent_id, "
                       "generation HAVING COUNT(*) > 1)") == 0);
  BOOST_TEST(w.sql_int("SELECT COUNT(*) FROM sidecar_sync_history WHERE outcome = 'synced'") >=
             400);
  BOOST_TEST(a->out().find("Synced 0 agents") == std::string::npos, a->out());
  BOOST_TEST(b->out().find("Synced 0 agents") == std::string::npos, b->out());
}

BOOST_AUTO_TEST_SUITE_END()
