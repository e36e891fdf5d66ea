// The periodic evaluation (sidecar/sync/evaluator.h): counts per status, and auto-promotion only
// of the tiers whose step needs no review, through the tier-change service.
#include <boost/test/unit_test.hpp>

#include "engine/ledger/ledger.h"
#include "sidecar/server/serve_events.h"
#include "sidecar/sync/evaluator.h"
#include "tests/support/server_test_support.h"
#include "tests/support/simulated_clock.h"

using namespace ps::sidecar;
using namespace ps::sidecar::server;

BOOST_AUTO_TEST_SUITE(evaluator)

BOOST_AUTO_TEST_CASE(periodic_evaluation_counts_and_auto_promotes_only_tiers_without_review) {
  ps::testing::TempDir dir;
  const std::string db = dir.file("ledger.db");
  ps::SimulatedClock clock;
  ps::testing::create_ledger(db);
  ps::testing::RawLedger raw(db);
  {
    auto l = ps::engine::Ledger::open({db, 5000, false});
    BOOST_REQUIRE((*l)->migrate(clock.wall_now()).ok());
  }
  raw.exec("BEGIN");
  ps::testing::seed_ready_agent(raw, "t0", 0, clock.wall_now());
  ps::testing::seed_ready_agent(raw, "t1", 1, clock.wall_now());
  ps::testing::seed_ready_agent(raw, "t2", 2, clock.wall_now());
  ps::testing::seed_ready_agent(raw, "t3", 3, clock.wall_now());
  ps::testing::seed_new_agent(raw, "new", 0);
  raw.exec("COMMIT");
  LedgerPool pool({db, 5000, false});
  auto s = std::make_shared<ServeSettings>();
  auto rules = ps::engine::Rules::defaults();
  // An admin-only step that the reference would call ELIGIBLE must not be auto-promoted.
  auto t1 = *rules.for_tier(1);
  t1.set(ps::engine::RequirementKey::requires_admin_approval, true);
  rules.set_tier(1, t1);
  s->rules = std::make_shared<const ps::engine::Rules>(rules);
  SettingsStore settings(s);
  std::vector<std::string> lines;
  Logger log([&](std::string_view l) { lines.emplace_back(l); }, clock);
  MetricsRegistry registry;
  ServeMetrics metrics(registry, "t");
  ServeEvents events(metrics, log, nullptr);
  int woken = 0;
  TierChangeServiceDeps deps{pool, settings, clock, events};
  deps.on_committed = [&] { ++woken; };
  TierChangeService tier_changes(deps, DesiredState::create(RolesConfig{}, "approle").value());
  Evaluator evaluator(pool, settings, tier_changes, clock, log, events);

  auto pass = evaluator.run_once(false);
  BOOST_REQUIRE(pass.ok());
  BOOST_TEST(pass->eligible == 2);        // t0, t1
  BOOST_TEST(pass->pending_review == 2);  // t2, t3
  BOOST_TEST(pass->not_eligible == 1);
  BOOST_TEST(pass->auto_promoted == 0);
  BOOST_TEST(metrics.agents.value({"eligible"}) == 2);
  BOOST_TEST(raw.integer("SELECT count(*) FROM promotions") == 0);

  pass = evaluator.run_once(true);
  BOOST_REQUIRE(pass.ok());
  BOOST_TEST(pass->auto_promoted == 1);
  BOOST_TEST(raw.rows("SELECT agent_id, from_tier, to_tier, approved_by FROM promotions") ==
             std::vector<std::string>{"t0|0|1|policy-sidecar:auto"});
  BOOST_TEST(raw.rows("SELECT agent_id, tier FROM sidecar_outbox") ==
             std::vector<std::string>{"t0|1"});
  BOOST_TEST(woken == 1);
  BOOST_TEST(metrics.promotions.value({"auto", "promoted"}) == 1);
}

BOOST_AUTO_TEST_SUITE_END()
