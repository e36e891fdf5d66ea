// The `revocation` section: defaults, rule forms, merging over the default severities, the
// cooldown reaching the promotion rules, and errors naming the key path.
#include <boost/test/unit_test.hpp>

#include "sidecar/config/config.h"

using namespace ps;
using namespace ps::sidecar;

namespace {

std::string error_of(const std::string& text) {
  auto c = parse_config(text, "test.json");
  BOOST_REQUIRE(!c.ok());
  BOOST_TEST((c.status().code() == Code::invalid_argument));
  return c.status().message();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(revocation_config)

BOOST_AUTO_TEST_CASE(defaults_watch_every_two_seconds_with_the_documented_rules) {
  auto c = parse_config("{}", "t");
  BOOST_REQUIRE(c.ok());
  const RevocationConfig& r = c->revocation;
  BOOST_TEST(r.watch);
  BOOST_TEST(r.poll_interval.count() == 2000);
  BOOST_TEST(r.cooldown_days == 7);
  BOOST_TEST(c->rules.cooldown_days() == 7);
  BOOST_TEST(r.act_on_acknowledged);
  BOOST_TEST(r.destroy_secret_ids);
  BOOST_TEST(!r.revoke_tokens);
  BOOST_TEST(r.by_severity.at("critical").describe() == "demote_to 0");
  BOOST_TEST(r.by_severity.at("high").describe() == "demote_one");
  BOOST_TEST(r.by_severity.at("medium").describe() == "none");
  BOOST_TEST(r.by_severity.at("low").describe() == "none");
}

BOOST_AUTO_TEST_CASE(given_rules_replace_their_defaults_and_keep_the_others) {
  auto c = parse_config(R"({"revocation": {"cooldown_days": 0, "acknowledged": "skip",
      "rules": {"severity": {"medium": "demote_one", "critical": {"demote_to": 1}},
                "violation_type": {"credential_leak": {"demote_to": 0}, "noise": "none"}},
      "vault": {"revoke_tokens": true, "destroy_secret_ids": false},
      "watch": false, "poll_interval_s": 0.5, "batch": 10}})", "t");
  BOOST_REQUIRE_MESSAGE(c.ok(), c.status().message());
  const RevocationConfig& r = c->revocation;
  BOOST_TEST(r.by_severity.at("medium").describe() == "demote_one");
  BOOST_TEST(r.by_severity.at("critical").describe() == "demote_to 1");
  BOOST_TEST(r.by_severity.at("high").describe() == "demote_one");
  BOOST_TEST(r.by_type.at("credential_leak").describe() == "demote_to 0");
  BOOST_TEST(r.by_type.at("noise").describe() == "none");
  BOOST_TEST(!r.act_on_acknowledged);
  BOOST_TEST(r.revoke_tokens);
  BOOST_TEST(!r.destroy_secret_ids);
  BOOST_TEST(!r.watch);
  BOOST_TEST(r.poll_interval.count() == 500);
  BOOST_TEST(r.batch == 10);
  BOOST_TEST(c->rules.cooldown_days() == 0);
}

BOOST_AUTO_TEST_CASE(bad_values_are_refused_naming_the_key_path) {
  BOOST_TEST(error_of(R"({"revocation": {"rules": {"severity": {"urgent": "none"}}}})")
                 .find("revocation.rules.severity.urgent: unknown key") != std::string::npos);
  BOOST_TEST(error_of(R"({"revocation": {"rules": {"severity": {"high": "demote_two"}}}})")
                 .find("revocation.rules.severity.high: must be") != std::string::npos);
  BOOST_TEST(error_of(R"({"revocation": {"rules": {"severity": {"high": {"demote_to": 5}}}}})")
                 .find("revocation.rules.severity.high.demote_to: must be an integer from 0 to 4") !=
             std::string::npos);
  BOOST_TEST(error_of(R"({"revocation": {"acknowledged": "forgive"}})")
                 .find("revocation.acknowledged: must be \"act\" or \"skip\"") != std::string::npos);
  BOOST_TEST(error_of(R"({"revocation": {"cooldown_days": -1}})")
                 .find("revocation.cooldown_days") != std::string::npos);
  BOOST_TEST(error_of(R"({"revocation": {"vault": {"revoke": true}}})")
                 .find("revocation.vault.revoke: unknown key") != std::string::npos);
  BOOST_TEST(error_of(R"({"revocation": {"rules": {"violation_type": {"": "none"}}}})")
                 .find("must not be empty") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
