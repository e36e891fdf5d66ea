// The "rules" config section: merge semantics and validation errors naming the key path.
#include <boost/test/unit_test.hpp>

#include "engine/rules/evaluation_json.h"
#include "engine/rules/rules_config.h"

using ps::Code;
using ps::Result;
using ps::Status;

using namespace ps::engine;
using json = nlohmann::ordered_json;

namespace {

Status apply(const std::string& text, Rules& rules) {
  return apply_rules_config(json::parse(text), "rules", rules);
}

std::string error_of(const std::string& text) {
  Rules rules = Rules::defaults();
  Status s = apply(text, rules);
  BOOST_TEST(!s.ok());
  BOOST_TEST((s.code() == Code::invalid_argument));
  return s.message();
}

std::string tier_json(const Rules& rules, int tier) {
  std::string out;
  PyJsonWriter w(out, PyJsonWriter::Style::compact);
  write_requirements(w, *rules.for_tier(tier));
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(rules_config)

BOOST_AUTO_TEST_CASE(a_tier_entry_merges_into_the_defaults_in_dict_update_order) {
  Rules rules = Rules::defaults();
  BOOST_REQUIRE(apply(R"({"0": {"min_compliant_runs": 8, "min_successful_modifications": 1}})",
                      rules).ok());
  BOOST_TEST(tier_json(rules, 0) ==
             "{\"min_compliant_runs\": 8, \"min_consecutive_compliant\": 3, "
             "\"required_action_types\": [\"generate_plan\"], \"max_violations_30d\": 0, "
             "\"description\": \"5 compliant plan-only tasks, 3 consecutive, no violations\", "
             "\"min_successful_modifications\": 1}");
  BOOST_TEST(tier_json(rules, 1) == tier_json(Rules::defaults(), 1));
}

BOOST_AUTO_TEST_CASE(every_key_can_be_overridden_with_its_type) {
  Rules rules = Rules::defaults();
  BOOST_REQUIRE(apply(R"({"3": {"min_compliant_runs": 0, "min_consecutive_compliant": 0,
      "required_action_types": ["x", "y"], "min_successful_modifications": 2,
      "max_violations_30d": 3, "requires_manual_review": false,
      "requires_admin_approval": false, "description": "d"}})", rules).ok());
  const auto t3 = rules.for_tier(3);
  BOOST_TEST(t3->action_types().size() == 2u);
  BOOST_TEST(t3->get_int(RequirementKey::max_violations_30d, -1) == 3);
  BOOST_TEST(!t3->get_bool(RequirementKey::requires_manual_review));
}

BOOST_AUTO_TEST_CASE(negative_number_is_refused_naming_the_key_path) {
  BOOST_TEST(error_of(R"({"1": {"min_compliant_runs": -1}})") ==
             "rules.\"1\".min_compliant_runs: must be a non-negative integer");
}

BOOST_AUTO_TEST_CASE(wrong_types_are_refused) {
  BOOST_TEST(error_of(R"({"1": {"min_compliant_runs": 2.5}})") ==
             "rules.\"1\".min_compliant_runs: must be a non-negative integer");
  BOOST_TEST(error_of(R"({"1": {"max_violations_30d": "3"}})") ==
             "rules.\"1\".max_violations_30d: must be a non-negative integer");
  BOOST_TEST(error_of(R"({"2": {"requires_manual_review": 1}})") ==
             "rules.\"2\".requires_manual_review: must be true or false");
  BOOST_TEST(error_of(R"({"2": {"description": 7}})") == "rules.\"2\".description: must be a string");
  BOOST_TEST(error_of(R"({"0": {"required_action_types": "generate_plan"}})") ==
             "rules.\"0\".required_action_types: must be a list of action type names");
  BOOST_TEST(error_of(R"({"0": {"required_action_types": ["a", 3]}})") ==
             "rules.\"0\".required_action_types[1]: must be a non-empty string");
  BOOST_TEST(error_of(R"({"0": {"required_action_types": ["a", "a"]}})") ==
             "rules.\"0\".required_action_types[1]: duplicate action type \"a\"");
  BOOST_TEST(error_of(R"({"0": []})") == "rules.\"0\": must be an object");
  BOOST_TEST(error_of(R"([])").find("rules: must be an object") == 0u);
}

BOOST_AUTO_TEST_CASE(unknown_key_is_refused) {
  BOOST_TEST(error_of(R"({"0": {"min_runs": 3}})").find("rules.\"0\".min_runs: unknown key") == 0u);
}

BOOST_AUTO_TEST_CASE(unknown_tier_is_refused) {
  for (const char* tier : {"4", "-1", "01", "10"}) {
    const std::string msg = error_of(std::string(R"({")") + tier + R"(": {}})");
    BOOST_TEST(msg.find(std::string("rules.\"") + tier + "\": unknown tier") == 0u, msg);
  }
  BOOST_TEST(error_of(R"({"x": {}})").find("rules.x: unknown tier") == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
