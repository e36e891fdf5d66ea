// The periodic evaluation (sidecar/sync/evaluator.h): counts per status, and auto-promotion only
// of the tiers whose step needs no review, through the tier-change service.
#include <boost/test/unit_test.hpp>
#include <functional>
#include <memory>

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
  deps.on_committed = [&](std::string_view) { ++woken; };
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

namespace {

// A ledger with one ready tier-0 agent, and the parts of the periodic evaluation around it.
struct AutoFixture {
  ps::testing::TempDir dir;
  std::string db = dir.file("ledger.db");
  ps::SimulatedClock clock;
  std::unique_ptr<ps::testing::RawLedger> raw;
  std::unique_ptr<LedgerPool> pool;
  std::unique_ptr<SettingsStore> settings;
  std::vector<std::string> lines;
  Logger log{[this](std::string_view l) { lines.emplace_back(l); }, clock};
  MetricsRegistry registry;
  ServeMetrics metrics{registry, "t"};
  ServeEvents events{metrics, log, nullptr};
  std::function<void()> at_commit;  // runs inside the promotion's transaction
  std::unique_ptr<TierChangeService> tier_changes;
  std::unique_ptr<Evaluator> evaluator;

  AutoFixture() {
    ps::testing::create_ledger(db);
    raw = std::make_unique<ps::testing::RawLedger>(db);
    {
      auto l = ps::engine::Ledger::open({db, 5000, false});
      BOOST_REQUIRE((*l)->migrate(clock.wall_now()).ok());
    }
    raw->exec("BEGIN");
    ps::testing::seed_ready_agent(*raw, "t0", 0, clock.wall_now());
    raw->exec("COMMIT");
    pool = std::make_unique<LedgerPool>(ps::engine::LedgerOptions{db, 5000, false});
    settings = std::make_unique<SettingsStore>(with_rules(ps::engine::Rules::defaults()));
    TierChangeServiceDeps deps{*pool, *settings, clock, events};
    // The outbox hook's test point is inside the write transaction, before COMMIT: a reload
    // that lands there lands between the scan and the commit.
    deps.checkpoint = [this](std::string_view point) {
      if (point == "outbox.before_commit" && at_commit) at_commit();
    };
    tier_changes = std::make_unique<TierChangeService>(
        deps, DesiredState::create(RolesConfig{}, "approle").value());
    evaluator = std::make_unique<Evaluator>(*pool, *settings, *tier_changes, clock, log, events);
  }

  static std::shared_ptr<const ServeSettings> with_rules(const ps::engine::Rules& rules) {
    auto s = std::make_shared<ServeSettings>();
    s->rules = std::make_shared<const ps::engine::Rules>(rules);
    return s;
  }
  static ps::engine::Rules tier0_needs_review() {
    auto rules = ps::engine::Rules::defaults();
    auto t0 = *rules.for_tier(0);
    t0.set(ps::engine::RequirementKey::requires_manual_review, true);
    rules.set_tier(0, t0);
    return rules;
  }
  std::int64_t promotions() { return raw->integer("SELECT count(*) FROM promotions"); }
  std::int64_t outbox_rows() { return raw->integer("SELECT count(*) FROM sidecar_outbox"); }
};

}  // namespace

BOOST_AUTO_TEST_CASE(a_reload_that_makes_the_step_need_review_between_scan_and_commit_stops_it) {
  AutoFixture fx;
  fx.at_commit = [&] {
    fx.settings->set(AutoFixture::with_rules(AutoFixture::tier0_needs_review()));
    fx.at_commit = nullptr;
  };
  auto pass = fx.evaluator->run_once(true);
  BOOST_REQUIRE(pass.ok());
  BOOST_TEST(pass->eligible == 1);  // eligible under the rules of the scan
  BOOST_TEST(pass->auto_promoted == 0);
  BOOST_TEST(pass->auto_refused == 1);
  BOOST_TEST(fx.promotions() == 0);   // rolled back with its outbox row
  BOOST_TEST(fx.outbox_rows() == 0);
  BOOST_TEST(fx.raw->text("SELECT current_tier FROM agent_metrics WHERE agent_id = 't0'") == "0");
  BOOST_TEST(fx.metrics.promotions.value({"auto", "promoted"}) == 0);
  // Under the new rules the next pass leaves it to a reviewer.
  pass = fx.evaluator->run_once(true);
  BOOST_REQUIRE(pass.ok());
  BOOST_TEST(pass->auto_promoted == 0);
  BOOST_TEST(fx.promotions() == 0);
}

BOOST_AUTO_TEST_CASE(any_rules_reload_between_scan_and_commit_defers_the_promotion_to_the_next_pass) {
  AutoFixture fx;
  // New rules that still let the step go without a person, but stricter on the numbers:
  // the promotion evaluated under the old ones must not commit under them.
  fx.at_commit = [&] {
    fx.settings->set(AutoFixture::with_rules(ps::engine::Rules::defaults()));
    fx.at_commit = nullptr;
  };
  auto pass = fx.evaluator->run_once(true);
  BOOST_REQUIRE(pass.ok());
  BOOST_TEST(pass->auto_promoted == 0);
  BOOST_TEST(pass->auto_refused == 1);
  BOOST_TEST(fx.promotions() == 0);
  pass = fx.evaluator->run_once(true);  // decided again under the rules now in effect
  BOOST_REQUIRE(pass.ok());
  BOOST_TEST(pass->auto_promoted == 1);
  BOOST_TEST(fx.raw->rows("SELECT agent_id, approved_by FROM promotions") ==
             std::vector<std::string>{"t0|policy-sidecar:auto"});
}

BOOST_AUTO_TEST_CASE(the_auto_approver_name_is_refused_to_every_other_caller) {
  AutoFixture fx;
  TierChangeService::Promotion p;
  p.agent_id = "t0";
  p.approved_by = TierChangeService::kAutoApprover;
  auto r = fx.tier_changes->promote(p);
  BOOST_REQUIRE(!r.ok());
  BOOST_TEST((r.status().code() == ps::Code::invalid_argument));
  BOOST_TEST(r.status().message().find("reserved") != std::string::npos);
  BOOST_TEST(fx.promotions() == 0);
}

BOOST_AUTO_TEST_SUITE_END()
