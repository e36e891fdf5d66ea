// The promotion transaction: re-evaluation inside it, the conditional tier update, the
// promotions row as the reference writes it, the tier-change hook, and every refusal.
#include <boost/test/unit_test.hpp>

#include "engine/rules/evaluation_json.h"
#include "engine/ledger/ledger.h"
#include "tests/support/test_support.h"
#include "tests/support/engine_printers.h"

using ps::Code;
using ps::Result;
using ps::Status;

using namespace ps::engine;
using ps::testing::RawLedger;
using ps::testing::TempDir;


namespace {

const WallTime kNow = *parse_iso8601("2026-11-25T10:15:30.250000+00:00");
std::string at(std::int64_t s) { return ps::testing::iso_at(kNow, std::chrono::seconds(s)); }

struct Fixture {
  TempDir dir;
  std::string path = dir.file("ledger.db");
  RawLedger raw{path, true};
  std::unique_ptr<Ledger> ledger;

  Fixture() {
    raw.metrics("ready", 0, 6, 4, 9);                       // eligible T0 -> T1
    raw.action("ready", at(-3600), "generate_plan", "PLAN_ONLY", 1);
    raw.metrics("review", 2, 30, 12, 40);                   // pending review T2 -> T3
    raw.action("review", at(-500), "ansible_run", "EXECUTE", 1);
    for (int i = 0; i < 5; ++i) raw.action("review", at(-400 + i), "terraform_apply", "EXECUTE", 1);
    raw.metrics("short", 0, 1, 1);                          // not eligible
    raw.metrics("top", 4, 99, 99);                          // max tier
    raw.exec("INSERT INTO agent_metrics (agent_id, current_tier) VALUES ('broken', 9)");
    auto l = Ledger::open({path, 200, false});
    BOOST_REQUIRE(l.ok());
    ledger = std::move(l).value();
    BOOST_REQUIRE(ledger->migrate(kNow).ok());
  }

  PromotionRequest request(const std::string& agent, std::optional<std::int64_t> from = {}) {
    return {agent, "carol", std::nullopt, from, kNow, {}};
  }
  std::string tier(const std::string& agent) {
    return raw.text("SELECT current_tier FROM agent_metrics WHERE agent_id = '" + agent + "'");
  }
  std::int64_t promotions() { return raw.integer("SELECT count(*) FROM promotions"); }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(promote)

BOOST_AUTO_TEST_CASE(promotes_an_eligible_agent_and_records_the_reference_columns) {
  Fixture fx;
  auto expected = fx.ledger->agent_facts("ready", kNow);
  const Evaluation before = evaluate(*expected, Rules::defaults(), kNow);
  auto r = fx.ledger->promote(fx.request("ready", 0), Rules::defaults());
  BOOST_REQUIRE_MESSAGE(r.ok(), r.status().message());
  BOOST_TEST(r->from_tier == 0);
  BOOST_TEST(r->to_tier == 1);
  BOOST_TEST(r->rationale == "Agent meets all promotion criteria");
  BOOST_TEST(fx.tier("ready") == "1");
  BOOST_TEST(fx.raw.text("SELECT updated_at FROM agent_metrics WHERE agent_id = 'ready'") ==
             "2026-11-25T10:15:30.250000+00:00");
  const auto rows = fx.raw.rows("SELECT id, timestamp, agent_id, from_tier, to_tier, approved_by, "
                                "rationale FROM promotions");
  BOOST_REQUIRE(rows.size() == 1u);
  BOOST_TEST(rows[0] == std::to_string(r->id) + "|2026-11-25T10:15:30.250000+00:00|ready|0|1|carol|"
                        "Agent meets all promotion criteria");
  const std::string evidence = fx.raw.text("SELECT evidence FROM promotions");
  BOOST_TEST(evidence == evidence_json_compact(before.evidence));
  BOOST_TEST(evidence.find("{\"metrics\": {\"agent_id\": \"ready\", \"current_tier\": 0,") == 0u);
}

BOOST_AUTO_TEST_CASE(rationale_given_is_stored_and_empty_means_the_recommendation) {
  Fixture fx;
  auto req = fx.request("ready");
  req.rationale = "quarterly review";
  BOOST_REQUIRE(fx.ledger->promote(req, Rules::defaults()).ok());
  BOOST_TEST(fx.raw.text("SELECT rationale FROM promotions") == "quarterly review");
  auto review = fx.request("review");
  review.rationale = "";
  BOOST_REQUIRE(fx.ledger->promote(review, Rules::defaults()).ok());
  BOOST_TEST(fx.raw.text("SELECT rationale FROM promotions WHERE agent_id = 'review'") ==
             "All automatic criteria met. Manual review required.");
}

BOOST_AUTO_TEST_CASE(pending_review_agent_is_promoted_by_an_approver) {
  Fixture fx;
  auto r = fx.ledger->promote(fx.request("review", 2), Rules::defaults());
  BOOST_REQUIRE(r.ok());
  BOOST_TEST(r->evaluation.status == PromotionStatus::pending_review);
  BOOST_TEST(fx.tier("review") == "3");
}

BOOST_AUTO_TEST_CASE(refusals_change_nothing) {
  struct Case {
    std::string agent;
    std::optional<std::int64_t> from;
    Code code;
    std::string message;
  };
  const Case cases[] = {
      {"short", std::nullopt, Code::failed_precondition,
       "Agent not eligible: Agent needs to complete 3 requirements"},
      {"ghost", std::nullopt, Code::failed_precondition,
       "Agent not eligible: Agent has no recorded activity"},
      {"top", std::nullopt, Code::failed_precondition,
       "Agent not eligible: Agent is at Tier 4 (maximum)"},
      {"ready", 1, Code::aborted, "Agent ready is no longer at Tier 1 (now at Tier 0); nothing changed"},
      {"broken", std::nullopt, Code::invalid_data, "agent 'broken': current_tier = 9 (must be an integer 0..4)"},
  };
  for (const Case& c : cases) {
    Fixture fx;
    const std::string before = fx.raw.rows("SELECT group_concat(agent_id || current_tier || "
                                           "coalesce(updated_at, '-')) FROM agent_metrics")[0];
    auto r = fx.ledger->promote(fx.request(c.agent, c.from), Rules::defaults());
    BOOST_TEST(r.status().code() == c.code, c.agent);
    BOOST_TEST(r.status().message() == c.message);
    BOOST_TEST(fx.promotions() == 0);
    BOOST_TEST(fx.raw.rows("SELECT group_concat(agent_id || current_tier || "
                           "coalesce(updated_at, '-')) FROM agent_metrics")[0] == before);
  }
}

BOOST_AUTO_TEST_CASE(second_approval_of_the_same_step_is_aborted) {
  Fixture fx;
  BOOST_REQUIRE(fx.ledger->promote(fx.request("ready", 0), Rules::defaults()).ok());
  auto again = fx.ledger->promote(fx.request("ready", 0), Rules::defaults());
  BOOST_TEST(again.status().code() == Code::aborted);
  BOOST_TEST(again.status().message() == "Agent ready is no longer at Tier 0 (now at Tier 1); nothing changed");
  BOOST_TEST(fx.promotions() == 1);
}

BOOST_AUTO_TEST_CASE(hook_runs_inside_the_transaction_and_its_writes_commit_with_it) {
  Fixture fx;
  fx.raw.exec("CREATE TABLE sidecar_test_outbox (agent_id TEXT, to_tier INTEGER, promotion_id INTEGER)");
  std::int64_t promotions_seen_outside = -1;
  TierChange seen;
  auto hook = [&](LedgerTx& tx, const TierChange& change) -> Status {
    seen = change;
    // Another connection still sees the ledger as it was: nothing is committed yet.
    RawLedger other(fx.path);
    promotions_seen_outside = other.integer("SELECT count(*) FROM promotions");
    auto stmt = tx.prepare("INSERT INTO sidecar_test_outbox VALUES (?1, ?2, ?3)");
    if (!stmt.ok()) return stmt.status();
    stmt->bind(1, std::string_view(change.agent_id)).bind(2, change.to_tier).bind(3, change.promotion_id);
    return stmt->run();
  };
  auto r = fx.ledger->promote(fx.request("ready"), Rules::defaults(), hook);
  BOOST_REQUIRE_MESSAGE(r.ok(), r.status().message());
  BOOST_TEST(promotions_seen_outside == 0);
  BOOST_TEST(seen.agent_id == "ready");
  BOOST_TEST(seen.from_tier == 0);
  BOOST_TEST(seen.to_tier == 1);
  BOOST_TEST(seen.promotion_id == r->id);
  BOOST_TEST(seen.approved_by == "carol");
  BOOST_TEST(fx.raw.rows("SELECT * FROM sidecar_test_outbox")[0] ==
             "ready|1|" + std::to_string(r->id));
}

BOOST_AUTO_TEST_CASE(failing_hook_rolls_back_the_tier_change_and_the_promotion_row) {
  Fixture fx;
  auto hook = [](LedgerTx& tx, const TierChange&) -> Status {
    if (Status s = tx.exec("CREATE TABLE sidecar_leftover (x)"); !s.ok()) return s;
    return {Code::unavailable, "outbox full"};
  };
  auto r = fx.ledger->promote(fx.request("ready"), Rules::defaults(), hook);
  BOOST_TEST(r.status().code() == Code::unavailable);
  BOOST_TEST(r.status().message() == "outbox full");
  BOOST_TEST(fx.tier("ready") == "0");
  BOOST_TEST(fx.promotions() == 0);
  BOOST_TEST(fx.raw.integer("SELECT count(*) FROM sqlite_master WHERE name = 'sidecar_leftover'") == 0);
}

BOOST_AUTO_TEST_CASE(locked_ledger_makes_promote_unavailable_without_changes) {
  Fixture fx;
  fx.raw.exec("BEGIN IMMEDIATE");
  auto r = fx.ledger->promote(fx.request("ready"), Rules::defaults());
  BOOST_TEST(r.status().code() == Code::unavailable);
  fx.raw.exec("ROLLBACK");
  BOOST_TEST(fx.tier("ready") == "0");
  BOOST_TEST(fx.promotions() == 0);
  BOOST_TEST(fx.ledger->promote(fx.request("ready"), Rules::defaults()).ok());
}

BOOST_AUTO_TEST_CASE(promotion_uses_the_rules_it_is_given) {
  Fixture fx;
  Rules strict = Rules::defaults();
  TierRequirements t0 = *strict.for_tier(0);
  t0.set(RequirementKey::min_compliant_runs, std::int64_t{100});
  strict.set_tier(0, t0);
  auto r = fx.ledger->promote(fx.request("ready"), strict);
  BOOST_TEST(r.status().message() == "Agent not eligible: Agent needs to complete 1 requirements");
  auto evidence_rules = fx.ledger->promote(fx.request("ready"), Rules::defaults());
  BOOST_REQUIRE(evidence_rules.ok());
  BOOST_TEST(evidence_rules->evidence_json.find("\"min_compliant_runs\": 5") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
