// The reconciler against the in-memory FakeVault: drift modes, missing roles, pending and
// parked pushes, dry runs, paging with concurrent reads, orphan roles read by several threads,
// Vault outages, and races with newer tier changes.
#include <boost/test/unit_test.hpp>

#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <set>
#include <thread>

#include "tests/sidecar/sync/sync_test_support.h"

using ps::Code;
using ps::Result;
using ps::Status;

using namespace ps;
using namespace ps::sidecar;
using namespace ps::sidecar::testing;
using PL = std::vector<std::string>;

namespace {

ReconcileReport run(Reconciler& r, bool dry_run = false) {
  auto report = r.run(dry_run);
  BOOST_REQUIRE_MESSAGE(report.ok(), report.status().message());
  return *report;
}

ReconcileConfig mode(DriftMode m) {
  ReconcileConfig c;
  c.drift_mode = m;
  c.page_size = 3;
  c.concurrency = 2;
  return c;
}

std::int64_t drift_rows(SyncFixture& f) {
  ps::testing::RawLedger raw(f.db);
  return raw.integer("SELECT COUNT(*) FROM sidecar_drift");
}

// a1 (tier 1) edited behind the sidecar's back; a2 (tier 0) fine.
void edited_role(SyncFixture& f) {
  f.add_agent("a1", 1);
  f.add_agent("a2", 0);
  f.vault->set_role("agent-a1", {"t4-observer", "custom"});
  f.vault->set_role("agent-a2", {"t0-observer"});
}

// Adds `n` orphan roles "agent-ghostNN" holding a custom and a managed policy; returns them in
// the mount's listing order.
std::vector<std::string> add_ghosts(SyncFixture& f, int n) {
  std::vector<std::string> ghosts;
  for (int i = 0; i < n; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "agent-ghost%02d", i);
    f.vault->set_role(name, {"custom", "t4-observer"});
    ghosts.push_back(name);
  }
  return ghosts;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(reconciler)

// With the default `detect`, a tier-0 agent's role edited to hold t4-observer loses that
// policy on reconcile and sync: an unjustified privilege is never only reported.
BOOST_AUTO_TEST_CASE(detect_removes_a_policy_the_ledger_does_not_justify) {
  SyncFixture f;
  f.add_agent("a0", 0);
  f.vault->set_role("agent-a0", {"t4-observer", "custom"});
  auto rep = run(*f.reconciler(mode(DriftMode::detect)));
  BOOST_TEST(rep.summary.privilege_excess == 1);
  BOOST_TEST(rep.summary.repairs == 1);
  BOOST_TEST(rep.plan.at(0).action == "repair");
  BOOST_REQUIRE(f.worker()->run_once().ok());
  BOOST_TEST(*f.vault->role("agent-a0") == (PL{"custom", "t0-observer"}),
             boost::test_tools::per_element());
  // A dry run and mode ignore never write.
  f.vault->set_role("agent-a0", {"t4-observer"});
  BOOST_TEST(run(*f.reconciler(mode(DriftMode::detect)), true).summary.repairs == 1);
  BOOST_TEST(run(*f.reconciler(mode(DriftMode::ignore))).summary.repairs == 0);
  BOOST_REQUIRE(f.worker()->run_once().ok());
  BOOST_TEST(*f.vault->role("agent-a0") == (PL{"t4-observer"}), boost::test_tools::per_element());
}

// Under-privilege (a tier policy missing) is only reported in detect.
BOOST_AUTO_TEST_CASE(detect_reports_missing_privilege_and_changes_nothing) {
  SyncFixture f;
  f.add_agent("a1", 1);
  f.add_agent("a2", 0);
  f.vault->set_role("agent-a1", {"custom"});
  f.vault->set_role("agent-a2", {"t0-observer"});
  auto rep = run(*f.reconciler(mode(DriftMode::detect)));
  BOOST_TEST(rep.summary.complete);
  BOOST_TEST(rep.summary.agents == 2);
  BOOST_TEST(rep.summary.in_sync == 1);
  BOOST_TEST(rep.summary.drifted == 1);
  BOOST_TEST(rep.summary.repairs == 0);
  BOOST_REQUIRE(rep.plan.size() == 1u);
  BOOST_TEST(rep.plan[0].agent_id == "a1");
  BOOST_TEST(rep.plan[0].action == "report");
  BOOST_TEST(rep.plan[0].expected == (PL{"t1-observer"}), boost::test_tools::per_element());
  BOOST_TEST(rep.differences());
  BOOST_TEST(drift_rows(f) == 1);
  BOOST_TEST(!f.row("a1").has_value());
  BOOST_TEST(*f.vault->role("agent-a1") == (PL{"custom"}), boost::test_tools::per_element());
  BOOST_REQUIRE(f.events.drift_found.size() == 1u);
  BOOST_TEST(f.events.drift_found[0].action == "report");
  BOOST_TEST(f.events.reconciles.size() == 1u);
  BOOST_TEST(f.log_contains("reconcile.drift"));
}

BOOST_AUTO_TEST_CASE(correct_repairs_through_the_outbox_and_keeps_unmanaged_policies) {
  SyncFixture f;
  edited_role(f);
  auto rep = run(*f.reconciler(mode(DriftMode::correct)));
  BOOST_TEST(rep.summary.repairs == 1);
  BOOST_TEST(rep.plan.at(0).action == "repair");
  auto row = f.row("a1");
  BOOST_REQUIRE(row.has_value());
  BOOST_TEST((row->kind == engine::ChangeKind::repair));
  BOOST_TEST(row->generation == 1);
  auto w = f.worker();
  BOOST_REQUIRE(w->run_once().ok());
  BOOST_TEST(*f.vault->role("agent-a1") == (PL{"custom", "t1-observer"}), boost::test_tools::per_element());
  BOOST_REQUIRE(f.events.drift_corrected.size() == 1u);
  BOOST_TEST(f.events.drift_corrected[0].agent_id == "a1");
  // The next pass finds nothing.
  auto again = run(*f.reconciler(mode(DriftMode::correct)));
  BOOST_TEST(again.summary.in_sync == 2);
  BOOST_TEST(!again.differences());
}

BOOST_AUTO_TEST_CASE(ignore_reads_nothing_and_leaves_roles_alone) {
  SyncFixture f;
  edited_role(f);
  auto rep = run(*f.reconciler(mode(DriftMode::ignore)));
  BOOST_TEST(f.vault->requests() == 0u);
  BOOST_TEST(rep.summary.drifted == 0);
  BOOST_TEST(drift_rows(f) == 0);
  BOOST_TEST(*f.vault->role("agent-a1") == (PL{"t4-observer", "custom"}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(dry_run_plans_the_repair_but_writes_nothing) {
  SyncFixture f;
  edited_role(f);
  f.add_agent("a3", 2);  // role missing
  auto rep = run(*f.reconciler(mode(DriftMode::correct)), true);
  BOOST_TEST(rep.summary.dry_run);
  BOOST_TEST(rep.summary.repairs == 1);
  BOOST_TEST(rep.summary.missing_roles == 1);
  BOOST_REQUIRE(rep.plan.size() == 2u);
  BOOST_TEST(rep.plan[1].kind == "role_missing");
  BOOST_TEST(rep.plan[1].action == "report");
  BOOST_TEST(!rep.plan[1].found.has_value());
  BOOST_TEST(drift_rows(f) == 0);
  BOOST_TEST(f.stats().pending == 0);
  BOOST_TEST(f.vault->count("write") + f.vault->count("create") == 0u);
}

BOOST_AUTO_TEST_CASE(missing_role_is_created_through_the_outbox_when_configured) {
  RolesConfig roles;
  roles.missing_role = MissingRole::create;
  SyncFixture f(roles);
  f.add_agent("a3", 2);
  auto rep = run(*f.reconciler(mode(DriftMode::correct)));
  BOOST_TEST(rep.plan.at(0).action == "create");
  auto w = f.worker();
  BOOST_REQUIRE(w->run_once().ok());
  BOOST_TEST(*f.vault->role("agent-a3") == (PL{"t2-observer"}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(missing_role_is_only_reported_in_detect_mode) {
  RolesConfig roles;
  roles.missing_role = MissingRole::create;
  SyncFixture f(roles);
  f.add_agent("a3", 2);
  auto rep = run(*f.reconciler(mode(DriftMode::detect)));
  BOOST_TEST(rep.summary.missing_roles == 1);
  BOOST_TEST(rep.plan.at(0).action == "report");
  BOOST_TEST(!f.row("a3").has_value());
}

BOOST_AUTO_TEST_CASE(a_queued_push_is_waited_for_not_counted_as_drift) {
  SyncFixture f;
  f.add_agent("a1", 0);
  f.vault->set_role("agent-a1", {"t0-observer"});
  f.promote("a1");
  auto rep = run(*f.reconciler(mode(DriftMode::correct)));
  BOOST_TEST(rep.summary.pending == 1);
  BOOST_TEST(rep.summary.drifted == 0);
  BOOST_TEST(rep.plan.at(0).action == "wait");
  BOOST_TEST(drift_rows(f) == 0);
  BOOST_TEST(f.row("a1")->generation == 1);  // not bumped
}

BOOST_AUTO_TEST_CASE(parked_pushes_are_requeued_in_every_mode) {
  for (DriftMode m : {DriftMode::ignore, DriftMode::detect, DriftMode::correct}) {
    SyncFixture f;
    f.add_agent("a1", 0);
    f.promote("a1");  // role missing: parked
    auto w = f.worker();
    BOOST_REQUIRE(w->run_once().ok());
    BOOST_REQUIRE((f.row("a1")->state == engine::OutboxState::failed));
    f.vault->set_role("agent-a1", {"t0-observer"});  // someone created it
    auto rep = run(*f.reconciler(mode(m)));
    BOOST_TEST(rep.summary.parked == 1);
    BOOST_TEST((f.row("a1")->state == engine::OutboxState::pending));
    BOOST_REQUIRE(w->run_once().ok());
    BOOST_TEST(*f.vault->role("agent-a1") == (PL{"t1-observer"}), boost::test_tools::per_element());
  }
}

BOOST_AUTO_TEST_CASE(vault_outage_stops_the_pass_and_reports_it) {
  SyncFixture f;
  edited_role(f);
  f.vault->sealed = true;
  auto rep = run(*f.reconciler(mode(DriftMode::correct)));
  BOOST_TEST(!rep.summary.complete);
  BOOST_TEST(rep.summary.error->find("sealed") != std::string::npos);
  BOOST_TEST(f.vault->requests() <= 2u);  // each reading thread stops after its failure
  BOOST_TEST(drift_rows(f) == 0);
}

BOOST_AUTO_TEST_CASE(a_role_that_cannot_be_read_is_counted_and_the_pass_goes_on) {
  SyncFixture f;
  edited_role(f);
  f.vault->denied_reads.insert("agent-a2");
  auto rep = run(*f.reconciler(mode(DriftMode::detect)));
  BOOST_TEST(rep.summary.complete);
  BOOST_TEST(rep.summary.errors == 1);
  BOOST_TEST(rep.summary.drifted == 1);
  BOOST_REQUIRE(rep.errors.size() == 1u);
  BOOST_TEST(rep.errors[0].find("permission_denied") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_repair_overtaken_by_a_newer_tier_change_is_not_written) {
  SyncFixture f;
  f.add_agent("a1", 1);
  f.vault->set_role("agent-a1", {"t4-observer"});
  bool promoted = false;
  f.vault->on_request = [&](const std::string&, const std::string&) {
    if (!promoted) {
      promoted = true;
      f.promote("a1");  // 1 -> 2 between the page read and the repair
    }
  };
  auto rep = run(*f.reconciler(mode(DriftMode::correct)));
  BOOST_TEST(rep.summary.drifted == 1);
  BOOST_TEST(rep.summary.repairs == 0);
  auto row = f.row("a1");
  BOOST_TEST(row->tier == 2);
  BOOST_TEST((row->kind == engine::ChangeKind::promotion));
}

BOOST_AUTO_TEST_CASE(walks_every_agent_once_in_pages_with_concurrent_reads) {
  SyncFixture f;
  f.add_agents("w", 200, 1);
  for (int i = 0; i < 200; i += 7) {
    char name[16];
    std::snprintf(name, sizeof name, "agent-w%05d", i);
    f.vault->set_role(name, {"t1-observer", "extra"});
  }
  ReconcileConfig c = mode(DriftMode::detect);
  c.page_size = 17;
  c.concurrency = 4;
  auto rep = run(*f.reconciler(c));
  BOOST_TEST(rep.summary.agents == 200);
  BOOST_TEST(f.vault->count("read") == 200u);
  BOOST_TEST(rep.summary.in_sync == 29);
  BOOST_TEST(rep.summary.missing_roles == 171);
  std::set<std::string> seen;
  for (const auto& c2 : f.vault->calls) seen.insert(c2);
  // Every agent's role read once, and one listing of the mount (orphan roles).
  BOOST_TEST(seen.size() == 201u);
  BOOST_TEST(f.vault->count("list") == 1u);
}

BOOST_AUTO_TEST_CASE(orphan_roles_are_read_by_several_threads_and_reported_in_listing_order) {
  SyncFixture f;
  f.add_agent("a", 1);
  f.vault->set_role("agent-a", {"t1-observer"});
  const auto ghosts = add_ghosts(f, 40);
  // The first orphan read waits (at most 10 s) for a second one on another thread.
  std::mutex mu;
  std::condition_variable cv;
  std::set<std::thread::id> readers;
  f.vault->on_request = [&](const std::string& op, const std::string& role) {
    if (op != "read" || role.rfind("agent-ghost", 0) != 0) return;
    std::unique_lock<std::mutex> lock(mu);
    readers.insert(std::this_thread::get_id());
    cv.notify_all();
    cv.wait_for(lock, std::chrono::seconds(10), [&] { return readers.size() > 1; });
  };
  ReconcileConfig c;
  c.drift_mode = DriftMode::detect;
  c.concurrency = 4;
  auto rep = f.reconciler(c)->run(false);
  BOOST_REQUIRE(rep.ok());
  BOOST_TEST(readers.size() > 1u);
  BOOST_TEST(rep->orphans == ghosts, boost::test_tools::per_element());
  BOOST_TEST(rep->summary.orphans == 40);
  BOOST_TEST(rep->summary.orphans_stripped == 40);
  for (const auto& g : ghosts) BOOST_TEST(*f.vault->role(g) == std::vector<std::string>{"custom"});
}

BOOST_AUTO_TEST_CASE(a_vault_outage_while_orphans_are_read_stops_the_orphan_reads) {
  SyncFixture f;
  f.add_agent("a", 1);
  f.vault->set_role("agent-a", {"t1-observer"});
  add_ghosts(f, 40);
  f.vault->on_request = [&](const std::string& op, const std::string& role) {
    if (op == "read" && role.rfind("agent-ghost", 0) == 0) {  // sealed from the first orphan read
      std::lock_guard<std::mutex> lock(f.vault->mu);
      f.vault->sealed = true;
    }
  };
  ReconcileConfig c;
  c.drift_mode = DriftMode::detect;
  c.concurrency = 4;
  auto rep = f.reconciler(c)->run(false);
  BOOST_REQUIRE(rep.ok());
  BOOST_TEST(rep->summary.orphans == 40);  // listed before the outage: all counted
  BOOST_TEST(rep->summary.orphans_stripped == 0);
  // Each reading thread stops after its failure: at most one read each.
  BOOST_TEST(f.vault->count("read agent-ghost") <= 4u);
  BOOST_TEST(f.vault->count("write") == 0u);
}

BOOST_AUTO_TEST_CASE(invalid_ledger_rows_are_counted_not_fatal) {
  SyncFixture f;
  edited_role(f);
  {
    ps::testing::RawLedger raw(f.db);
    raw.exec("INSERT INTO agent_metrics (agent_id, current_tier) VALUES ('a9', 9)");
  }
  auto rep = run(*f.reconciler(mode(DriftMode::detect)));
  BOOST_TEST(rep.summary.agents == 3);
  BOOST_TEST(rep.summary.errors == 1);
  BOOST_TEST(rep.errors.at(0).find("a9") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(the_schedule_has_jitter_within_its_bounds) {
  SyncFixture f;
  ReconcileConfig c;
  c.interval_s = 100;
  c.jitter = 0.1;
  auto r = f.reconciler(c);
  std::set<std::int64_t> seen;
  for (int i = 0; i < 50; ++i) {
    const auto d = r->next_interval().count();
    BOOST_TEST(d >= 90000);
    BOOST_TEST(d <= 110000);
    seen.insert(d);
  }
  BOOST_TEST(seen.size() > 10u);
}

BOOST_AUTO_TEST_CASE(run_loop_runs_at_start_and_on_trigger) {
  SyncFixture f;
  edited_role(f);
  ReconcileConfig c = mode(DriftMode::detect);
  c.interval_s = 0;  // only at start and on demand
  auto r = f.reconciler(c);
  int passes = 0;
  r->run_loop([&] { return passes >= 2; },
              [&](const Result<ReconcileReport>& rep) {
                BOOST_REQUIRE(rep.ok());
                if (++passes == 1) r->trigger();
              });
  BOOST_TEST(passes == 2);
  BOOST_TEST(f.events.reconciles.size() == 2u);
}

BOOST_AUTO_TEST_SUITE_END()
