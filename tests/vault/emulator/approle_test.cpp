// AppRole roles, per-field endpoints, role IDs and secret IDs against the emulator core.
#include <boost/test/unit_test.hpp>

#include "tests/vault/emulator/emulator_fixture.h"

using namespace ps::vault::emulator;
using namespace ps::vault::emulator::testing;

namespace {
const std::string kRole = "/v1/auth/approle/role/";
}

BOOST_AUTO_TEST_SUITE(emulator_approle)

BOOST_AUTO_TEST_CASE(role_create_with_empty_body_answers_204_and_reads_back_vault_defaults) {
  Vault v;
  auto w = v.post(kRole + "agent-1", json::object());
  BOOST_TEST(w.status == 204);
  BOOST_TEST(w.raw.empty());
  auto r = v.get(kRole + "agent-1");
  BOOST_TEST(r.status == 200);
  json expected = {{"bind_secret_id", true},         {"secret_id_bound_cidrs", nullptr},
                   {"secret_id_num_uses", 0},         {"secret_id_ttl", 0},
                   {"local_secret_ids", false},       {"token_bound_cidrs", json::array()},
                   {"token_explicit_max_ttl", 0},     {"token_max_ttl", 0},
                   {"token_no_default_policy", false}, {"token_period", 0},
                   {"token_policies", json::array()}, {"token_type", "default"},
                   {"token_ttl", 0},                  {"token_num_uses", 0}};
  BOOST_TEST(r.body["data"] == expected, r.body["data"].dump());
}

BOOST_AUTO_TEST_CASE(read_uses_the_full_envelope_with_nulls) {
  Vault v;
  v.post(kRole + "agent-1", json::object());
  auto r = v.get(kRole + "agent-1");
  for (const char* k : {"request_id", "lease_id", "renewable", "lease_duration", "data",
                        "wrap_info", "warnings", "auth"}) {
    BOOST_TEST(r.body.contains(k), k);
  }
  BOOST_TEST(r.body["lease_id"] == "");
  BOOST_TEST(r.body["renewable"] == false);
  BOOST_TEST(r.body["lease_duration"] == 0);
  BOOST_TEST(r.body["wrap_info"].is_null());
  BOOST_TEST(r.body["warnings"].is_null());
  BOOST_TEST(r.body["auth"].is_null());
  BOOST_TEST(r.body["request_id"].get<std::string>().size() == 36u);
  BOOST_TEST(*r.header("Content-Type") == "application/json");
  BOOST_TEST(*r.header("Cache-Control") == "no-store");
}

BOOST_AUTO_TEST_CASE(role_names_are_case_insensitive_and_listed_lowercase) {
  Vault v;
  BOOST_TEST(v.post(kRole + "Agent-7", {{"token_policies", "a"}}).status == 204);
  BOOST_TEST(v.get(kRole + "agent-7").body["data"]["token_policies"] == json({"a"}));
  BOOST_TEST(v.post(kRole + "AGENT-7", {{"token_ttl", 60}}).status == 204);
  v.post(kRole + "b.x_9", json::object());
  auto l = v.list(kRole);
  BOOST_TEST(l.status == 200);
  BOOST_TEST(l.body["data"]["keys"] == json({"agent-7", "b.x_9"}));
  auto same = v.call("GET", kRole, nullptr, "\x01root", {}, "list=true");
  BOOST_TEST(same.body["data"]["keys"] == l.body["data"]["keys"]);
}

BOOST_AUTO_TEST_CASE(names_outside_the_route_regex_get_404_unsupported_path) {
  Vault v;
  for (std::string bad : {"-agent", "agent-", ".a", "a b", "a%2Fb", "a%00b", "caf%C3%A9"}) {
    auto r = v.post(kRole + bad, json::object());
    BOOST_TEST(r.status == 404, bad);
    BOOST_TEST(r.error() == "1 error occurred:\n\t* unsupported path\n\n", bad);
  }
  BOOST_TEST(v.post(kRole + "a", json::object()).status == 204);
  BOOST_TEST(v.post(kRole + "a-.b", json::object()).status == 204);
}

BOOST_AUTO_TEST_CASE(names_longer_than_4096_bytes_are_rejected_on_write) {
  Vault v;
  auto r = v.post(kRole + std::string(4097, 'a'), json::object());
  BOOST_TEST(r.status == 400);
  BOOST_TEST(r.error() == "role_name is longer than maximum of 4096 bytes");
  BOOST_TEST(v.post(kRole + std::string(4096, 'a'), json::object()).status == 204);
}

BOOST_AUTO_TEST_CASE(update_with_only_token_policies_keeps_every_other_field) {
  Vault v;
  v.post(kRole + "agent-1", {{"token_ttl", "1h"}, {"token_max_ttl", 7200}, {"secret_id_num_uses", 3},
                             {"token_policies", "x"}});
  BOOST_TEST(v.post(kRole + "agent-1", {{"token_policies", json::array({"y", "z"})}}).status == 204);
  auto d = v.get(kRole + "agent-1").body["data"];
  BOOST_TEST(d["token_ttl"] == 3600);
  BOOST_TEST(d["token_max_ttl"] == 7200);
  BOOST_TEST(d["secret_id_num_uses"] == 3);
  BOOST_TEST(d["token_policies"] == json({"y", "z"}));
}

BOOST_AUTO_TEST_CASE(token_policies_are_stored_as_given_and_clear_legacy_policies) {
  Vault v;
  v.post(kRole + "r", {{"policies", " B, a ,a"}});
  auto d = v.get(kRole + "r").body["data"];
  BOOST_TEST(d["policies"] == json({"a", "b"}));
  BOOST_TEST(d["token_policies"] == json({"a", "b"}));
  v.post(kRole + "r", {{"token_policies", " Zed , a,a"}});
  d = v.get(kRole + "r").body["data"];
  BOOST_TEST(d["token_policies"] == json({"Zed", "a", "a"}));
  BOOST_TEST(!d.contains("policies"));
  v.post(kRole + "r", {{"token_policies", "t1"}, {"policies", "p1"}});
  d = v.get(kRole + "r").body["data"];
  BOOST_TEST(d["token_policies"] == json({"t1"}));
  BOOST_TEST(d["policies"] == json({"t1"}));
}

BOOST_AUTO_TEST_CASE(a_role_without_any_constraint_is_a_500_with_multierror_text) {
  Vault v;
  auto r = v.post(kRole + "r", {{"bind_secret_id", false}});
  BOOST_TEST(r.status == 500);
  BOOST_TEST(r.error() == "1 error occurred:\n\t* at least one constraint should be enabled on the role\n\n");
  BOOST_TEST(v.get(kRole + "r").status == 404);
  BOOST_TEST(v.post(kRole + "r", {{"bind_secret_id", false}, {"secret_id_bound_cidrs", "10.0.0.0/8"}}).status == 204);
  BOOST_TEST(v.get(kRole + "r").body["data"]["secret_id_bound_cidrs"] == json({"10.0.0.0/8"}));
}

BOOST_AUTO_TEST_CASE(invalid_role_fields_give_vaults_400_texts) {
  Vault v;
  auto e = [&](const json& body) { return v.post(kRole + "r", body).error(); };
  BOOST_TEST(e({{"token_ttl", 10}, {"token_max_ttl", 5}}) == "'token_ttl' cannot be greater than 'token_max_ttl'");
  BOOST_TEST(e({{"token_type", "weird"}}) == "invalid 'token_type' value \"weird\"");
  BOOST_TEST(e({{"secret_id_num_uses", -1}}) == "secret_id_num_uses cannot be negative");
  BOOST_TEST(e({{"secret_id_bound_cidrs", "nope"}}) == "invalid CIDR blocks");
  BOOST_TEST(e({{"period", "800h"}}) ==
             "period of \"800h0m0s\" is greater than the backend's maximum lease TTL of \"768h0m0s\"");
  auto f = v.post(kRole + "r", {{"token_ttl", "soon"}});
  BOOST_TEST(f.status == 400);
  BOOST_TEST(f.error().rfind("Field validation failed: error converting input soon for field \"token_ttl\"", 0) == 0u);
  v.post(kRole + "r", json::object());
  BOOST_TEST(e({{"local_secret_ids", true}}) == "local_secret_ids can only be modified during role creation");
}

BOOST_AUTO_TEST_CASE(warnings_turn_a_204_into_a_200_envelope) {
  Vault v;
  auto r = v.post(kRole + "r", {{"token_max_ttl", "900h"}});
  BOOST_TEST(r.status == 200);
  BOOST_TEST(r.body["data"].is_null());
  BOOST_TEST(r.body["warnings"][0] ==
             "token_max_ttl is greater than the backend mount's maximum TTL value; issued tokens' "
             "max TTL value will be truncated");
  auto t = v.post(kRole + "s", {{"token_type", "default-service"}});
  BOOST_TEST(t.status == 200);
  BOOST_TEST(t.body["warnings"][0] == "default-service has no useful meaning; adjusting to service");
  BOOST_TEST(v.get(kRole + "s").body["data"]["token_type"] == "service");
}

BOOST_AUTO_TEST_CASE(missing_role_read_and_empty_list_are_404_with_empty_errors_delete_is_204) {
  Vault v;
  auto r = v.get(kRole + "nope");
  BOOST_TEST(r.status == 404);
  BOOST_TEST(r.body == json({{"errors", json::array()}}));
  auto l = v.list(kRole);
  BOOST_TEST(l.status == 404);
  BOOST_TEST(l.body == json({{"errors", json::array()}}));
  auto d = v.del(kRole + "nope");
  BOOST_TEST(d.status == 204);
  BOOST_TEST(d.raw.empty());
}

BOOST_AUTO_TEST_CASE(per_field_policies_endpoint_reads_and_writes_only_token_policies) {
  Vault v;
  v.post(kRole + "agent-1", {{"token_ttl", 60}, {"token_policies", "old"}});
  auto r = v.get(kRole + "agent-1/policies");
  BOOST_TEST(r.body["data"] == json({{"token_policies", {"old"}}}));
  BOOST_TEST(v.post(kRole + "agent-1/policies", {{"token_policies", " Tier-2,base,base"}}).status == 204);
  auto d = v.get(kRole + "agent-1").body["data"];
  BOOST_TEST(d["token_policies"] == json({"base", "tier-2"}));
  BOOST_TEST(d["token_ttl"] == 60);
  auto missing = v.post(kRole + "agent-2/policies", {{"token_policies", "x"}});
  BOOST_TEST(missing.status == 404);
  BOOST_TEST(missing.error() == "1 error occurred:\n\t* unsupported path\n\n");
  BOOST_TEST(v.get(kRole + "agent-2").status == 404);  // no role was created by accident
  BOOST_TEST(v.post(kRole + "agent-1/policies", json::object()).error() == "missing token_policies");
  BOOST_TEST(v.del(kRole + "agent-1/policies").status == 204);
  BOOST_TEST(v.get(kRole + "agent-1/policies").body["data"]["token_policies"] == json::array());
}

BOOST_AUTO_TEST_CASE(other_per_field_endpoints_follow_the_same_rules) {
  Vault v;
  v.post(kRole + "r", {{"token_max_ttl", 100}});
  BOOST_TEST(v.post(kRole + "r/token-ttl", {{"token_ttl", 50}}).status == 204);
  BOOST_TEST(v.get(kRole + "r/token-ttl").body["data"] == json({{"token_ttl", 50}}));
  BOOST_TEST(v.post(kRole + "r/token-ttl", {{"token_ttl", 500}}).error() ==
             "token_ttl should not be greater than token_max_ttl");
  BOOST_TEST(v.post(kRole + "r/secret-id-num-uses", {{"secret_id_num_uses", -2}}).error() ==
             "secret_id_num_uses cannot be negative");
  BOOST_TEST(v.post(kRole + "r/bind-secret-id", {{"bind_secret_id", false}}).status == 500);
  BOOST_TEST(v.get(kRole + "r/bind-secret-id").body["data"]["bind_secret_id"] == true);
  BOOST_TEST(v.get(kRole + "r/local-secret-ids").body["data"]["local_secret_ids"] == false);
  BOOST_TEST(v.get(kRole + "nope/token-ttl").status == 404);
}

BOOST_AUTO_TEST_CASE(role_id_can_be_read_and_replaced_but_not_shared) {
  Vault v;
  v.post(kRole + "a", json::object());
  v.post(kRole + "b", {{"role_id", "fixed-b"}});
  auto id = v.get(kRole + "a/role-id").body["data"]["role_id"].get<std::string>();
  BOOST_TEST(id.size() == 36u);
  BOOST_TEST(v.get(kRole + "b/role-id").body["data"]["role_id"] == "fixed-b");
  BOOST_TEST(v.post(kRole + "a/role-id", {{"role_id", "new-a"}}).status == 204);
  auto dup = v.post(kRole + "a/role-id", {{"role_id", "fixed-b"}});
  BOOST_TEST(dup.status == 500);
  BOOST_TEST(dup.error() == "1 error occurred:\n\t* role_id already in use\n\n");
  std::string secret = v.post(kRole + "a/secret-id", json::object()).body["data"]["secret_id"];
  BOOST_TEST(v.post("/v1/auth/approle/login", {{"role_id", "new-a"}, {"secret_id", secret}}, "").status == 200);
  BOOST_TEST(v.post("/v1/auth/approle/login", {{"role_id", id}, {"secret_id", secret}}, "").error() ==
             "invalid role or secret ID");
  BOOST_TEST(v.get(kRole + "nope/role-id").status == 404);
}

BOOST_AUTO_TEST_CASE(secret_id_create_list_lookup_and_destroy_use_vaults_codes) {
  Vault v;
  v.post(kRole + "agent-1", json::object());
  auto c = v.post(kRole + "agent-1/secret-id", {{"metadata", R"({"team":"ops"})"}});
  BOOST_TEST(c.status == 200);
  auto d = c.body["data"];
  std::string secret = d["secret_id"], accessor = d["secret_id_accessor"];
  BOOST_TEST(d["secret_id_ttl"] == 0);
  BOOST_TEST(d["secret_id_num_uses"] == 0);
  auto l = v.list(kRole + "agent-1/secret-id");
  BOOST_TEST(l.body["data"]["keys"] == json({accessor}));
  auto look = v.post(kRole + "agent-1/secret-id/lookup", {{"secret_id", secret}});
  BOOST_TEST(look.status == 200);
  BOOST_TEST(look.body["data"]["secret_id_accessor"] == accessor);
  BOOST_TEST(look.body["data"]["metadata"] == json({{"team", "ops"}}));
  BOOST_TEST(look.body["data"]["expiration_time"] == "0001-01-01T00:00:00Z");
  auto unknown = v.post(kRole + "agent-1/secret-id/lookup", {{"secret_id", "nope"}});
  BOOST_TEST(unknown.status == 204);
  BOOST_TEST(unknown.raw.empty());
  BOOST_TEST(v.post(kRole + "agent-1/secret-id-accessor/lookup", {{"secret_id_accessor", accessor}}).status == 200);
  auto bad_acc = v.post(kRole + "agent-1/secret-id-accessor/lookup", {{"secret_id_accessor", "zz"}});
  BOOST_TEST(bad_acc.status == 404);
  BOOST_TEST(bad_acc.error() == "failed to find accessor entry for secret_id_accessor: \"zz\"");
  auto bad_destroy = v.post(kRole + "agent-1/secret-id-accessor/destroy", {{"secret_id_accessor", "zz"}});
  BOOST_TEST(bad_destroy.status == 500);
  BOOST_TEST(bad_destroy.error() ==
             "1 error occurred:\n\t* failed to find accessor entry for secret_id_accessor: \"zz\"\n\n");
  BOOST_TEST(v.post(kRole + "agent-1/secret-id/destroy", {{"secret_id", "nope"}}).status == 204);
  BOOST_TEST(v.call("DELETE", kRole + "agent-1/secret-id-accessor/destroy", {{"secret_id_accessor", accessor}}).status == 204);
  BOOST_TEST(v.list(kRole + "agent-1/secret-id").status == 404);
}

BOOST_AUTO_TEST_CASE(secret_id_errors_for_missing_roles_and_unbound_roles) {
  Vault v;
  auto c = v.post(kRole + "ghost/secret-id", json::object());
  BOOST_TEST(c.status == 404);
  BOOST_TEST(c.error() == "role \"ghost\" does not exist");
  BOOST_TEST(v.list(kRole + "ghost/secret-id").status == 400);
  BOOST_TEST(v.post(kRole + "ghost/secret-id-accessor/destroy", {{"secret_id_accessor", "x"}}).status == 500);
  BOOST_TEST(v.post(kRole + "ghost/secret-id/lookup", {{"secret_id", "x"}}).status == 500);
  v.post(kRole + "nb", {{"bind_secret_id", false}, {"secret_id_bound_cidrs", "127.0.0.1/32"}});
  BOOST_TEST(v.post(kRole + "nb/secret-id", json::object()).error() == "bind_secret_id is not set on the role");
  v.post(kRole + "lim", {{"secret_id_num_uses", 2}});
  BOOST_TEST(v.post(kRole + "lim/secret-id", {{"num_uses", 5}}).error() ==
             "num_uses cannot be higher than the role's secret_id_num_uses");
}

BOOST_AUTO_TEST_CASE(unknown_fields_are_ignored_and_warned_about_only_on_200_answers) {
  Vault v;
  auto w = v.post(kRole + "r", {{"bogus", 1}, {"token_ttl", 5}});
  BOOST_TEST(w.status == 204);
  BOOST_TEST(w.raw.empty());
  BOOST_TEST(v.get(kRole + "r").body["data"]["token_ttl"] == 5);
  auto s = v.post(kRole + "r/secret-id", {{"token_policies", "admin"}, {"zzz", true}});
  BOOST_TEST(s.status == 200);
  BOOST_TEST(s.body["warnings"] == json({"Endpoint ignored these unrecognized parameters: [token_policies zzz]"}));
}

BOOST_AUTO_TEST_CASE(custom_secret_id_registers_the_given_value_once) {
  Vault v;
  v.post(kRole + "r", json::object());
  auto c = v.post(kRole + "r/custom-secret-id", {{"secret_id", "my-secret-value"}});
  BOOST_TEST(c.body["data"]["secret_id"] == "my-secret-value");
  BOOST_TEST(v.post(kRole + "r/custom-secret-id", {{"secret_id", "my-secret-value"}}).status == 500);
}

BOOST_AUTO_TEST_CASE(deleting_a_role_removes_its_secret_ids_and_role_id_index) {
  Vault v;
  auto [role_id, secret] = v.role_with_secret("gone");
  BOOST_TEST(v.del(kRole + "gone").status == 204);
  BOOST_TEST(v.post("/v1/auth/approle/login", {{"role_id", role_id}, {"secret_id", secret}}, "").error() ==
             "invalid role or secret ID");
  v.post(kRole + "gone", json::object());
  BOOST_TEST(v.list(kRole + "gone/secret-id").status == 404);
}

BOOST_AUTO_TEST_CASE(tidy_endpoint_answers_202_with_a_warning) {
  Vault v;
  auto r = v.post("/v1/auth/approle/tidy/secret-id", json::object());
  BOOST_TEST(r.status == 202);
  BOOST_TEST(r.body["warnings"].size() == 1u);
}

BOOST_AUTO_TEST_CASE(a_second_approle_mount_is_independent) {
  Vault v;
  BOOST_TEST(v.post("/v1/sys/auth/agents", {{"type", "approle"}}).status == 204);
  BOOST_TEST(v.post("/v1/sys/auth/agents", {{"type", "approle"}}).status == 400);
  BOOST_TEST(v.post("/v1/auth/agents/role/x", json::object()).status == 204);
  BOOST_TEST(v.get("/v1/auth/approle/role/x").status == 404);
  auto mounts = v.get("/v1/sys/auth").body["data"];
  BOOST_TEST(mounts.contains("agents/"));
  BOOST_TEST(mounts["agents/"]["type"] == "approle");
  BOOST_TEST(v.del("/v1/sys/auth/agents").status == 204);
  auto gone = v.post("/v1/auth/agents/role/x", json::object());
  BOOST_TEST(gone.status == 404);
  BOOST_TEST(gone.error() == "no handler for route \"auth/agents/role/x\". route entry not found.");
}

BOOST_AUTO_TEST_SUITE_END()
