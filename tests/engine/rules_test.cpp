// Every branch of the promotion rules, against the reference engine's sentences.
#include <boost/test/unit_test.hpp>

#include "engine/rules/evaluation_json.h"
#include "engine/rules/rules.h"
#include "engine/rules/timestamp.h"
#include "tests/support/engine_printers.h"

using namespace ps::engine;


namespace {

const WallTime kNow = *parse_iso8601("2026-11-25T10:15:30.123456+00:00");

std::shared_ptr<AgentFacts> facts(std::int64_t tier, std::int64_t runs, std::int64_t consecutive) {
  auto f = std::make_shared<AgentFacts>();
  f->agent_id = "a1";
  f->current_tier = tier;
  f->compliant_runs = runs;
  f->consecutive_compliant = consecutive;
  f->metrics.columns = std::make_shared<std::vector<std::string>>(
      std::vector<std::string>{"agent_id", "current_tier"});
  f->metrics.values = {SqlValue{std::string("a1")}, SqlValue{tier}};
  return f;
}

using Met = std::vector<std::pair<std::string, std::string>>;

// Met as one comparable, printable string: "key=value; key=value".
std::string joined(const Met& met) {
  std::string out;
  for (const auto& [k, v] : met) out += (out.empty() ? "" : "; ") + k + "=" + v;
  return out;
}
using Missing = std::vector<std::string>;

Evaluation eval(std::shared_ptr<AgentFacts> f, const Rules& rules = Rules::defaults()) {
  return evaluate(std::move(f), rules, kNow);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(rules)

BOOST_AUTO_TEST_CASE(unknown_agent_is_not_eligible_with_the_reference_sentences) {
  const Evaluation e = evaluate_unknown_agent("ghost", kNow);
  BOOST_TEST(e.agent_id == "ghost");
  BOOST_TEST(e.current_tier == 0);
  BOOST_TEST(e.target_tier == 1);
  BOOST_TEST(e.status == PromotionStatus::not_eligible);
  BOOST_TEST(e.requirements_met.empty());
  BOOST_TEST(e.requirements_missing == Missing{"Agent not found in metrics"});
  BOOST_TEST(e.recommendation == "Agent has no recorded activity");
  BOOST_TEST(evidence_json_compact(e.evidence) == "{}");
  BOOST_TEST(e.timestamp == "2026-11-25T10:15:30.123456+00:00");
}

BOOST_AUTO_TEST_CASE(tier4_agent_is_at_maximum_tier_and_targets_its_own_tier) {
  const Evaluation e = eval(facts(4, 500, 200));
  BOOST_TEST(e.current_tier == 4);
  BOOST_TEST(e.target_tier == 4);
  BOOST_TEST(e.status == PromotionStatus::not_eligible);
  BOOST_TEST(e.requirements_missing == Missing{"Already at maximum tier"});
  BOOST_TEST(e.recommendation == "Agent is at Tier 4 (maximum)");
  BOOST_TEST(evidence_json_compact(e.evidence) == "{\"current_tier\": 4}");
}

BOOST_AUTO_TEST_CASE(tier0_agent_meeting_every_requirement_is_eligible) {
  auto f = facts(0, 5, 3);
  f->action_types = {"read_logs", "generate_plan"};
  const Evaluation e = eval(f);
  BOOST_TEST(e.status == PromotionStatus::eligible);
  BOOST_TEST(e.target_tier == 1);
  BOOST_TEST(joined(e.requirements_met) == joined(Met{{"compliant_runs", "5 >= 5"},
                                        {"consecutive_compliant", "3 >= 3"},
                                        {"violations_30d", "0 <= 0"},
                                        {"action_generate_plan", "Has performed generate_plan"}}));
  BOOST_TEST(e.requirements_missing.empty());
  BOOST_TEST(e.recommendation == "Agent meets all promotion criteria");
}

BOOST_AUTO_TEST_CASE(a_sidecar_demotion_adds_the_cooldown_requirement_until_it_ends) {
  auto f = facts(0, 5, 3);
  f->action_types = {"read_logs", "generate_plan"};
  f->last_demotion_at = kNow - std::chrono::hours(24);
  Evaluation e = eval(f);
  BOOST_TEST(e.status == PromotionStatus::not_eligible);
  BOOST_TEST(e.requirements_missing ==
             Missing{"Cooldown after demotion until " +
                     format_isoformat_utc(kNow + std::chrono::hours(24 * 6))});
  BOOST_TEST(e.recommendation == "Agent needs to complete 1 requirements");
  f->last_demotion_at = kNow - std::chrono::hours(24 * 8);
  e = eval(f);
  BOOST_TEST(e.status == PromotionStatus::eligible);
  BOOST_TEST(e.requirements_met.back().first == std::string(kCooldownKey));
  // Without a demotion nothing about a cooldown appears (reference parity).
  f->last_demotion_at.reset();
  e = eval(f);
  BOOST_TEST(e.requirements_met.back().first == "action_generate_plan");
  Rules no_cooldown = Rules::defaults();
  no_cooldown.set_cooldown_days(0);
  f->last_demotion_at = kNow;
  BOOST_TEST(eval(f, no_cooldown).status == PromotionStatus::eligible);
}

BOOST_AUTO_TEST_CASE(missing_compliant_runs_reports_the_shortfall) {
  auto f = facts(0, 2, 3);
  f->action_types = {"generate_plan"};
  const Evaluation e = eval(f);
  BOOST_TEST(e.status == PromotionStatus::not_eligible);
  BOOST_TEST(e.requirements_missing == Missing{"Need 3 more compliant runs"});
  BOOST_TEST(e.requirements_met.front().first == "consecutive_compliant");
  BOOST_TEST(e.recommendation == "Agent needs to complete 1 requirements");
}

BOOST_AUTO_TEST_CASE(missing_consecutive_runs_reports_the_shortfall) {
  auto f = facts(1, 10, 1);
  f->action_types = {"ansible_check", "terraform_plan"};
  f->successful_executions = 2;
  const Evaluation e = eval(f);
  BOOST_TEST(e.requirements_missing == Missing{"Need 4 more consecutive compliant runs"});
  BOOST_TEST(e.status == PromotionStatus::not_eligible);
}

BOOST_AUTO_TEST_CASE(violations_in_the_window_above_the_maximum_block_promotion) {
  auto f = facts(0, 9, 9);
  f->action_types = {"generate_plan"};
  f->violations_30d = 2;
  const Evaluation e = eval(f);
  BOOST_TEST(e.requirements_missing == Missing{"Too many violations (2 > 0)"});
  BOOST_TEST(e.requirements_met.size() == 3u);
}

BOOST_AUTO_TEST_CASE(each_missing_action_type_is_reported_in_rule_order) {
  auto f = facts(1, 10, 5);
  f->successful_executions = 3;
  const Evaluation e = eval(f);
  BOOST_TEST(e.requirements_missing == (Missing{"Needs to perform action type: ansible_check",
                                                "Needs to perform action type: terraform_plan"}),
             boost::test_tools::per_element());
  BOOST_TEST(e.recommendation == "Agent needs to complete 2 requirements");
}

BOOST_AUTO_TEST_CASE(action_types_met_are_listed_in_rule_order_not_history_order) {
  auto f = facts(1, 10, 5);
  f->action_types = {"terraform_plan", "ansible_check"};
  f->successful_executions = 2;
  const Evaluation e = eval(f);
  BOOST_TEST(e.status == PromotionStatus::eligible);
  BOOST_TEST(e.requirements_met[3].first == "action_ansible_check");
  BOOST_TEST(e.requirements_met[4].first == "action_terraform_plan");
  BOOST_TEST(e.requirements_met[5].first == "modifications");
  BOOST_TEST(e.requirements_met[5].second == "2 >= 2");
}

BOOST_AUTO_TEST_CASE(too_few_successful_modifications_reports_the_shortfall) {
  auto f = facts(2, 30, 12);
  f->action_types = {"ansible_run", "terraform_apply"};
  f->successful_executions = 1;
  const Evaluation e = eval(f);
  BOOST_TEST(e.requirements_missing == Missing{"Need 4 more successful modifications"});
}

BOOST_AUTO_TEST_CASE(no_actions_in_window_counts_null_sums_as_zero) {
  // The reference crashes here (None >= 2): a tier-1 agent with no action in 30 days.
  auto f = facts(1, 10, 5);
  const Evaluation e = eval(f);
  BOOST_TEST(e.status == PromotionStatus::not_eligible);
  BOOST_TEST(e.requirements_missing.back() == "Need 2 more successful modifications");
  BOOST_TEST(e.requirements_missing.size() == 3u);
}

BOOST_AUTO_TEST_CASE(review_tier_meeting_all_criteria_is_pending_review) {
  auto f = facts(2, 25, 10);
  f->action_types = {"ansible_run", "terraform_apply"};
  f->successful_executions = 5;
  const Evaluation e = eval(f);
  BOOST_TEST(e.status == PromotionStatus::pending_review);
  BOOST_TEST(e.recommendation == "All automatic criteria met. Manual review required.");
  BOOST_TEST(is_promotable(e.status));
}

BOOST_AUTO_TEST_CASE(admin_tier_needs_only_runs_and_no_violations_then_review) {
  auto f = facts(3, 50, 25);
  const Evaluation e = eval(f);
  BOOST_TEST(e.status == PromotionStatus::pending_review);
  BOOST_TEST(joined(e.requirements_met) == joined(Met{{"compliant_runs", "50 >= 50"},
                                        {"consecutive_compliant", "25 >= 25"},
                                        {"violations_30d", "0 <= 0"}}));
}

BOOST_AUTO_TEST_CASE(admin_tier_without_max_violations_key_allows_none) {
  // Tier 3's entry has no max_violations_30d; the reference's .get(..., 0) applies.
  auto f = facts(3, 50, 25);
  f->violations_30d = 1;
  const Evaluation e = eval(f);
  BOOST_TEST(e.requirements_missing == Missing{"Too many violations (1 > 0)"});
}

BOOST_AUTO_TEST_CASE(every_requirement_missing_at_once_keeps_the_reference_order) {
  auto f = facts(2, 0, 0);
  f->violations_30d = 4;
  const Evaluation e = eval(f);
  BOOST_TEST(e.requirements_missing ==
                 (Missing{"Need 25 more compliant runs", "Need 10 more consecutive compliant runs",
                          "Too many violations (4 > 0)",
                          "Needs to perform action type: ansible_run",
                          "Needs to perform action type: terraform_apply",
                          "Need 5 more successful modifications"}),
             boost::test_tools::per_element());
  BOOST_TEST(e.recommendation == "Agent needs to complete 6 requirements");
  BOOST_TEST(e.requirements_met.empty());
}

BOOST_AUTO_TEST_CASE(zero_minimum_modifications_skips_the_check) {
  Rules rules = Rules::defaults();
  TierRequirements t1 = *rules.for_tier(1);
  t1.set(RequirementKey::min_successful_modifications, std::int64_t{0});
  rules.set_tier(1, t1);
  auto f = facts(1, 10, 5);
  f->action_types = {"ansible_check", "terraform_plan"};
  const Evaluation e = eval(f, rules);
  BOOST_TEST(e.status == PromotionStatus::eligible);
  BOOST_TEST(e.requirements_met.size() == 5u);
}

BOOST_AUTO_TEST_CASE(disabling_manual_review_makes_a_review_tier_eligible) {
  Rules rules = Rules::defaults();
  TierRequirements t3 = *rules.for_tier(3);
  t3.set(RequirementKey::requires_manual_review, false);
  rules.set_tier(3, t3);
  const Evaluation e = eval(facts(3, 50, 25), rules);
  BOOST_TEST(e.status == PromotionStatus::eligible);
}

BOOST_AUTO_TEST_CASE(evidence_holds_metrics_history_and_effective_requirements) {
  auto f = facts(0, 5, 3);
  f->total_actions = 4;
  f->successful_actions = 3;
  f->action_types = {"generate_plan", "read_logs"};
  const Evaluation e = eval(f);
  BOOST_TEST(evidence_json_compact(e.evidence) ==
             "{\"metrics\": {\"agent_id\": \"a1\", \"current_tier\": 0}, \"history\": "
             "{\"total_actions\": 4, \"successful_actions\": 3, \"successful_executions\": 0, "
             "\"action_types\": [\"generate_plan\", \"read_logs\"], \"violations_30d\": 0}, "
             "\"requirements\": {\"min_compliant_runs\": 5, \"min_consecutive_compliant\": 3, "
             "\"required_action_types\": [\"generate_plan\"], \"max_violations_30d\": 0, "
             "\"description\": \"5 compliant plan-only tasks, 3 consecutive, no violations\"}}");
}

BOOST_AUTO_TEST_CASE(timestamp_omits_the_fraction_when_now_has_none) {
  const Evaluation e = evaluate(facts(4, 0, 0), Rules::defaults(),
                                *parse_iso8601("2026-11-25T10:15:30Z"));
  BOOST_TEST(e.timestamp == "2026-11-25T10:15:30+00:00");
}

BOOST_AUTO_TEST_CASE(default_rules_are_the_reference_table) {
  const Rules r = Rules::defaults();
  BOOST_TEST(r.for_tier(0)->get_int(RequirementKey::min_compliant_runs, -1) == 5);
  BOOST_TEST(r.for_tier(1)->action_types() ==
             (std::vector<std::string>{"ansible_check", "terraform_plan"}),
             boost::test_tools::per_element());
  BOOST_TEST(r.for_tier(2)->get_bool(RequirementKey::requires_manual_review));
  BOOST_TEST(r.for_tier(3)->get_bool(RequirementKey::requires_admin_approval));
  BOOST_TEST(r.for_tier(3)->find(RequirementKey::max_violations_30d) == nullptr);
  BOOST_TEST(!r.for_tier(4));
  BOOST_TEST(!r.for_tier(-1));
}

BOOST_AUTO_TEST_SUITE_END()
