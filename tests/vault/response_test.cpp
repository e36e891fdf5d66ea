// Parsing Vault's answers into typed results (the shapes are in vault/README.md, "Facts
// about Vault's API").
#include <boost/test/unit_test.hpp>

#include <nlohmann/json.hpp>

#include "vault/response.h"

namespace ps::vault {
namespace {

BOOST_AUTO_TEST_SUITE(vault_response_parsing)

const char* kHealthActive = R"({"initialized":true,"sealed":false,"standby":false,
  "performance_standby":false,"replication_performance_mode":"disabled",
  "replication_dr_mode":"disabled","server_time_utc":1700000000,"version":"1.17.0",
  "enterprise":false,"cluster_name":"vault-cluster-1","cluster_id":"abc","echo_duration_ms":0,
  "clock_skew_ms":0,"replication_primary_canary_age_ms":0})";

BOOST_AUTO_TEST_CASE(health_codes_of_the_default_table_are_states_not_errors) {
  auto active = parse_health(HttpAnswer{200, kHealthActive, {}});
  BOOST_REQUIRE(active.ok());
  BOOST_TEST(to_string(active->state) == "active");
  BOOST_TEST(active->cluster_name == "vault-cluster-1");
  BOOST_TEST(active->version == "1.17.0");
  BOOST_TEST(active->server_time_utc == 1700000000);

  const std::string sealed_body =
      R"({"initialized":true,"sealed":true,"standby":true,"version":"1.17.0"})";
  const std::vector<std::pair<int, std::string>> table = {
      {429, "standby"},       {472, "dr_secondary"}, {473, "performance_standby"},
      {474, "ha_unhealthy"},  {501, "uninitialized"}, {503, "sealed"},
      {530, "removed"}};
  for (const auto& [status, state] : table) {
    auto h = parse_health(HttpAnswer{status, sealed_body, {}});
    BOOST_REQUIRE_MESSAGE(h.ok(), "status " << status);
    BOOST_TEST(to_string(h->state) == state);
    BOOST_TEST(h->http_status == status);
  }
  auto sealed = parse_health(HttpAnswer{503, sealed_body, {}});
  BOOST_TEST(sealed->sealed);
  BOOST_TEST(sealed->cluster_name.empty());
}

BOOST_AUTO_TEST_CASE(health_status_without_a_health_body_is_an_error) {
  auto proxy = parse_health(HttpAnswer{503, "<html>Service Unavailable</html>", {}});
  BOOST_REQUIRE(!proxy.ok());
  BOOST_TEST(to_string(proxy.error().action) == "retry");
  auto odd = parse_health(HttpAnswer{500, R"({"errors":["boom"]})", {}});
  BOOST_REQUIRE(!odd.ok());
  BOOST_TEST(to_string(odd.error().code) == "server_error");
  auto garbage = parse_health(HttpAnswer{200, "not json", {}});
  BOOST_REQUIRE(!garbage.ok());
  BOOST_TEST(to_string(garbage.error().code) == "bad_response");
}

BOOST_AUTO_TEST_CASE(leader_and_seal_status_bodies) {
  auto leader = parse_leader(R"({"ha_enabled":false,"is_self":false,"active_time":
    "0001-01-01T00:00:00Z","leader_address":"","leader_cluster_address":"",
    "performance_standby":false,"performance_standby_last_remote_wal":0})");
  BOOST_REQUIRE(leader.ok());
  BOOST_TEST(!leader->ha_enabled);
  auto seal = parse_seal_status(R"({"type":"shamir","initialized":true,"sealed":false,"t":1,
    "n":1,"progress":0,"nonce":"","version":"1.17.0","build_date":"x","migration":false,
    "recovery_seal":false,"storage_type":"inmem"})");
  BOOST_REQUIRE(seal.ok());
  BOOST_TEST(!seal->sealed);
  BOOST_TEST(seal->t == 1);
  BOOST_TEST(seal->storage_type == "inmem");
  BOOST_TEST(!parse_seal_status("{}").ok());
}

BOOST_AUTO_TEST_CASE(role_read_keeps_token_policies_apart_from_legacy_policies) {
  auto role = parse_role(R"({"request_id":"r","lease_id":"","renewable":false,
    "lease_duration":0,"data":{"bind_secret_id":true,"local_secret_ids":false,
    "secret_id_bound_cidrs":null,"secret_id_num_uses":0,"secret_id_ttl":0,
    "token_bound_cidrs":[],"token_explicit_max_ttl":0,"token_max_ttl":0,
    "token_no_default_policy":false,"token_num_uses":0,"token_period":0,
    "token_policies":["tier1","base"],"policies":["legacy"],"token_ttl":3600,
    "token_type":"default"},"wrap_info":null,"warnings":null,"auth":null})");
  BOOST_REQUIRE(role.ok());
  BOOST_TEST((role->token_policies == std::vector<std::string>{"tier1", "base"}));
  BOOST_TEST((role->policies == std::vector<std::string>{"legacy"}));
  BOOST_TEST(role->token_ttl == 3600);
  BOOST_TEST(role->token_type == "default");
  BOOST_TEST(role->secret_id_bound_cidrs.empty());
  BOOST_TEST(!parse_role(R"({"data":null})").ok());
}

BOOST_AUTO_TEST_CASE(per_field_policies_and_lists) {
  auto p = parse_role_policies(R"({"data":{"token_policies":["a","b"]}})");
  BOOST_REQUIRE(p.ok());
  BOOST_TEST(p->size() == 2u);
  auto empty = parse_role_policies(R"({"data":{"token_policies":[]}})");
  BOOST_REQUIRE(empty.ok());
  BOOST_TEST(empty->empty());
  auto legacy = parse_role_policies(R"({"data":{"policies":["old"]}})");
  BOOST_REQUIRE(legacy.ok());
  BOOST_TEST(legacy->front() == "old");
  BOOST_TEST(!parse_role_policies(R"({"data":{"token_policies":"a,b"}})").ok());

  auto keys = parse_keys(R"({"data":{"keys":["agent-1","agent-2"]}})");
  BOOST_REQUIRE(keys.ok());
  BOOST_TEST(keys->size() == 2u);
  BOOST_TEST(!parse_keys(R"({"data":{}})").ok());
}

BOOST_AUTO_TEST_CASE(login_auth_block) {
  auto auth = parse_auth(R"({"request_id":"x","lease_id":"","renewable":false,
    "lease_duration":0,"data":null,"wrap_info":null,"warnings":null,"auth":{
    "client_token":"hvs.CAESIexample","accessor":"acc1","policies":["default","tier1"],
    "token_policies":["default","tier1"],"metadata":{"role_name":"agent-7"},
    "lease_duration":2764800,"renewable":true,"entity_id":"e","token_type":"service",
    "orphan":true,"mfa_requirement":null,"num_uses":0}})");
  BOOST_REQUIRE(auth.ok());
  BOOST_TEST(auth->client_token.reveal() == "hvs.CAESIexample");
  BOOST_TEST(auth->accessor == "acc1");
  BOOST_TEST(auth->metadata.at("role_name") == "agent-7");
  BOOST_TEST(auth->lease_duration == 2764800);
  BOOST_TEST(auth->renewable);
  BOOST_TEST(auth->orphan);
  BOOST_TEST(!parse_auth(R"({"auth":null})").ok());
  BOOST_TEST(!parse_auth(R"({"auth":{"accessor":"x"}})").ok());
}

BOOST_AUTO_TEST_CASE(token_lookup_never_reads_the_id) {
  auto info = parse_token_info(R"({"data":{"id":"hvs.SECRET","accessor":"acc",
    "policies":["default"],"path":"auth/approle/login","meta":{"role_name":"sidecar"},
    "display_name":"approle","num_uses":0,"orphan":true,"creation_time":1700000000,
    "creation_ttl":3600,"expire_time":"2024-01-01T00:00:00Z","ttl":1800,
    "explicit_max_ttl":0,"type":"service","issue_time":"2023-12-31T23:00:00Z",
    "renewable":true}})");
  BOOST_REQUIRE(info.ok());
  BOOST_TEST(info->ttl == 1800);
  BOOST_TEST(info->creation_ttl == 3600);
  BOOST_TEST(info->renewable);
  BOOST_TEST(info->meta.at("role_name") == "sidecar");
  BOOST_TEST(info->expire_time == "2024-01-01T00:00:00Z");
  auto root = parse_token_info(R"({"data":{"ttl":0,"expire_time":null,"renewable":false}})");
  BOOST_REQUIRE(root.ok());
  BOOST_TEST(root->expire_time.empty());
}

BOOST_AUTO_TEST_CASE(role_spec_sends_only_the_fields_set) {
  RoleSpec spec;
  spec.token_policies = std::vector<std::string>{"tier2"};
  spec.token_ttl = 600;
  auto body = role_spec_json(spec);
  BOOST_REQUIRE(body.ok());
  auto j = nlohmann::json::parse(*body);
  BOOST_TEST(j.size() == 2u);
  BOOST_TEST(j["token_policies"][0] == "tier2");
  BOOST_TEST(j["token_ttl"] == 600);
  BOOST_TEST(!j.contains("policies"));
  BOOST_TEST(*role_spec_json(RoleSpec{}) == "{}");
}

BOOST_AUTO_TEST_CASE(invalid_utf8_is_refused_without_echoing_it) {
  RoleSpec spec;
  spec.token_policies = std::vector<std::string>{"bad\xff\xfe"};
  auto body = role_spec_json(spec);
  BOOST_REQUIRE(!body.ok());
  BOOST_TEST(to_string(body.error().code) == "invalid_argument");
  BOOST_TEST(body.error().message.find("bad") == std::string::npos);
}

// Hostile numbers (1e300, negative, huge TTLs, non-numbers) are bad_response errors naming the
// field, never a cast.
BOOST_AUTO_TEST_CASE(hostile_numbers_in_answers_are_errors_naming_the_field_never_casts) {
  auto expect_bad = [](const auto& result, const std::string& field) {
    BOOST_REQUIRE(!result.ok());
    BOOST_TEST(to_string(result.error().code) == "bad_response");
    BOOST_TEST(to_string(result.error().action) == "give_up");
    BOOST_TEST_MESSAGE(result.error().message);
    BOOST_TEST(result.error().message.find(field) != std::string::npos);
  };
  const std::string login_prefix = R"({"auth":{"client_token":"hvs.x","lease_duration":)";
  expect_bad(parse_auth(login_prefix + "1e300}}"), "auth.lease_duration");
  expect_bad(parse_auth(login_prefix + "-1}}"), "auth.lease_duration");
  expect_bad(parse_auth(login_prefix + "-1e300}}"), "auth.lease_duration");
  expect_bad(parse_auth(login_prefix + "9223372036854775807}}"), "auth.lease_duration");
  expect_bad(parse_auth(login_prefix + "18446744073709551615}}"), "auth.lease_duration");
  expect_bad(parse_auth(login_prefix + "\"NaN\"}}"), "auth.lease_duration");
  expect_bad(parse_auth(login_prefix + "\"99999999999999999999\"}}"), "auth.lease_duration");
  expect_bad(parse_auth(login_prefix + "true}}"), "auth.lease_duration");
  expect_bad(parse_token_info(R"({"data":{"ttl":1e300}})"), "data.ttl");
  expect_bad(parse_token_info(R"({"data":{"ttl":10,"creation_ttl":-5}})"), "data.creation_ttl");
  expect_bad(parse_token_info(R"({"data":{"creation_time":1e19}})"), "data.creation_time");
  expect_bad(parse_token_info(R"({"data":{"num_uses":-1e300}})"), "data.num_uses");
  expect_bad(parse_role(R"({"data":{"token_ttl":1e300}})"), "data.token_ttl");
  expect_bad(parse_role(R"({"data":{"token_max_ttl":-1}})"), "data.token_max_ttl");
  expect_bad(parse_role(R"({"data":{"secret_id_num_uses":1e300}})"), "data.secret_id_num_uses");
  expect_bad(parse_secret_id_info(R"({"data":{"secret_id_ttl":1e300}})"), "data.secret_id_ttl");
  expect_bad(parse_seal_status(R"({"sealed":true,"t":1e300})"), "t");
  expect_bad(parse_seal_status(R"({"sealed":true,"n":4294967297})"), "n");
  expect_bad(parse_health(HttpAnswer{200, R"({"initialized":true,"server_time_utc":1e300})", {}}),
             "server_time_utc");
}

BOOST_AUTO_TEST_CASE(numbers_in_range_parse_whatever_their_json_form) {
  auto a = parse_auth(R"({"auth":{"client_token":"hvs.x","lease_duration":3600.0}})");
  BOOST_REQUIRE(a.ok());
  BOOST_TEST(a->lease_duration == 3600);
  auto b = parse_auth(R"({"auth":{"client_token":"hvs.x","lease_duration":"7200"}})");
  BOOST_REQUIRE(b.ok());
  BOOST_TEST(b->lease_duration == 7200);
  auto c = parse_auth(R"({"auth":{"client_token":"hvs.x","lease_duration":null}})");
  BOOST_REQUIRE(c.ok());
  BOOST_TEST(c->lease_duration == 0);
  // The largest TTL accepted: 100 years.
  auto d = parse_token_info(R"({"data":{"ttl":)" + std::to_string(kMaxTtlSeconds) + "}}");
  BOOST_REQUIRE(d.ok());
  BOOST_TEST(d->ttl == kMaxTtlSeconds);
  BOOST_TEST(!parse_token_info(R"({"data":{"ttl":)" + std::to_string(kMaxTtlSeconds + 1) + "}}")
                  .ok());
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace ps::vault
