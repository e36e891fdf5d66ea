// AppRole login and the token store: issue, lookup, renewal, expiry, revocation, use counts.
#include <boost/test/unit_test.hpp>

#include "tests/vault/emulator/emulator_fixture.h"

using namespace ps::vault::emulator;
using namespace ps::vault::emulator::testing;
using namespace std::chrono_literals;

namespace {
const std::string kRole = "/v1/auth/approle/role/";
const std::string kLogin = "/v1/auth/approle/login";
}  // namespace

BOOST_AUTO_TEST_SUITE(emulator_tokens)

BOOST_AUTO_TEST_CASE(login_returns_an_hvs_token_with_vaults_auth_block) {
  Vault v;
  auto [role_id, secret] = v.role_with_secret("Agent-9", {{"token_policies", "Tier-1, base,base"}});
  auto r = v.post(kLogin, {{"role_id", role_id}, {"secret_id", secret}}, "");
  BOOST_TEST(r.status == 200);
  BOOST_TEST(r.body["data"].is_null());
  BOOST_TEST(r.body["lease_id"] == "");
  BOOST_TEST(r.body["renewable"] == false);
  BOOST_TEST(r.body["lease_duration"] == 0);
  json a = r.body["auth"];
  BOOST_TEST(a["client_token"].get<std::string>().rfind("hvs.", 0) == 0u);
  BOOST_TEST(a["accessor"].get<std::string>().size() == 24u);
  BOOST_TEST(a["policies"] == json({"base", "default", "tier-1"}));
  BOOST_TEST(a["token_policies"] == json({"base", "default", "tier-1"}));
  BOOST_TEST(a["metadata"] == json({{"role_name", "agent-9"}}));
  BOOST_TEST(a["lease_duration"] == 2764800);
  BOOST_TEST(a["renewable"] == true);
  BOOST_TEST(a["token_type"] == "service");
  BOOST_TEST(a["orphan"] == true);
  BOOST_TEST(a["mfa_requirement"].is_null());
  BOOST_TEST(!a.contains("identity_policies"));
}

BOOST_AUTO_TEST_CASE(login_uses_token_ttl_and_can_leave_out_default) {
  Vault v;
  auto [role_id, secret] = v.role_with_secret("r", {{"token_ttl", "20m"}, {"token_no_default_policy", true},
                                                    {"token_policies", "p"}});
  json a = v.login(role_id, secret);
  BOOST_TEST(a["lease_duration"] == 1200);
  BOOST_TEST(a["policies"] == json({"p"}));
}

BOOST_AUTO_TEST_CASE(login_errors_are_400_with_vaults_texts) {
  Vault v;
  auto [role_id, secret] = v.role_with_secret("r");
  auto e = [&](const json& body) {
    auto r = v.post(kLogin, body, "");
    BOOST_TEST(r.status == 400);
    return r.error();
  };
  BOOST_TEST(e({{"secret_id", secret}}) == "missing role_id");
  BOOST_TEST(e({{"role_id", "nope"}, {"secret_id", secret}}) == "invalid role or secret ID");
  BOOST_TEST(e({{"role_id", role_id}}) == "missing secret_id");
  BOOST_TEST(e({{"role_id", role_id}, {"secret_id", "wrong"}}) == "invalid role or secret ID");
}

BOOST_AUTO_TEST_CASE(an_auth_method_cannot_mint_root_tokens) {
  Vault v;
  auto [role_id, secret] = v.role_with_secret("r", {{"token_policies", "root"}});
  auto r = v.post(kLogin, {{"role_id", role_id}, {"secret_id", secret}}, "");
  BOOST_TEST(r.status == 400);
  BOOST_TEST(r.error() == "auth methods cannot create root tokens");
}

BOOST_AUTO_TEST_CASE(each_login_uses_up_the_secret_id_and_the_last_use_deletes_it) {
  Vault v;
  v.post(kRole + "r", {{"secret_id_num_uses", 2}});
  std::string role_id = v.get(kRole + "r/role-id").body["data"]["role_id"];
  std::string secret = v.post(kRole + "r/secret-id", json::object()).body["data"]["secret_id"];
  BOOST_TEST(v.login(role_id, secret).is_object());
  BOOST_TEST(v.post(kRole + "r/secret-id/lookup", {{"secret_id", secret}}).body["data"]["secret_id_num_uses"] == 1);
  BOOST_TEST(v.login(role_id, secret).is_object());
  BOOST_TEST(v.post(kRole + "r/secret-id/lookup", {{"secret_id", secret}}).status == 204);
  BOOST_TEST(v.post(kLogin, {{"role_id", role_id}, {"secret_id", secret}}, "").error() == "invalid role or secret ID");
}

BOOST_AUTO_TEST_CASE(five_bad_secret_ids_lock_the_role_id_out_for_fifteen_minutes) {
  Vault v;
  auto [role_id, secret] = v.role_with_secret("r");
  for (int i = 0; i < 5; ++i) {
    BOOST_TEST(v.post(kLogin, {{"role_id", role_id}, {"secret_id", "bad"}}, "").status == 400);
  }
  auto locked = v.post(kLogin, {{"role_id", role_id}, {"secret_id", secret}}, "");
  BOOST_TEST(locked.status == 403);
  BOOST_TEST(locked.error() == "permission denied");
  v.clock.advance(16min);
  BOOST_TEST(v.post(kLogin, {{"role_id", role_id}, {"secret_id", secret}}, "").status == 200);
}

BOOST_AUTO_TEST_CASE(lockout_can_be_switched_off) {
  Options o = dev_options();
  o.user_lockout = false;
  Vault v(o);
  auto [role_id, secret] = v.role_with_secret("r");
  for (int i = 0; i < 8; ++i) v.post(kLogin, {{"role_id", role_id}, {"secret_id", "bad"}}, "");
  BOOST_TEST(v.post(kLogin, {{"role_id", role_id}, {"secret_id", secret}}, "").status == 200);
}

BOOST_AUTO_TEST_CASE(token_policies_are_fixed_at_issue_but_policy_text_applies_at_once) {
  Vault v;
  auto [role_id, secret] = v.role_with_secret("r", {{"token_policies", "reader"}});
  v.put_policy("reader", {{"path", {{"sys/capabilities-self", {{"capabilities", {"deny"}}}}}}});
  std::string token = v.login(role_id, secret)["client_token"];
  v.post(kRole + "r/policies", {{"token_policies", "writer"}});
  BOOST_TEST(v.get("/v1/auth/token/lookup-self", token).body["data"]["policies"] == json({"default", "reader"}));
  std::string secret2 = v.post(kRole + "r/secret-id", json::object()).body["data"]["secret_id"];
  BOOST_TEST(v.login(role_id, secret2)["policies"] == json({"default", "writer"}));
  // The token's ACL is rebuilt from the current text: a rule added now applies at once.
  BOOST_TEST(v.get(kRole + "r", token).status == 403);
  v.put_policy("reader", {{"path", {{"auth/approle/role/r", {{"capabilities", {"read"}}}}}}});
  BOOST_TEST(v.get(kRole + "r", token).status == 200);
}

BOOST_AUTO_TEST_CASE(lookup_self_describes_the_token_and_accepts_a_bearer_header) {
  Vault v;
  auto [role_id, secret] = v.role_with_secret("r", {{"token_ttl", 600}});
  json a = v.login(role_id, secret);
  std::string token = a["client_token"];
  v.clock.advance(100s);
  auto r = v.call("GET", "/v1/auth/token/lookup-self", nullptr, "", {{"Authorization", "Bearer " + token}});
  BOOST_TEST(r.status == 200);
  json d = r.body["data"];
  BOOST_TEST(d["id"] == token);
  BOOST_TEST(d["accessor"] == a["accessor"]);
  BOOST_TEST(d["path"] == "auth/approle/login");
  BOOST_TEST(d["display_name"] == "approle");
  BOOST_TEST(d["meta"] == json({{"role_name", "r"}}));
  BOOST_TEST(d["creation_ttl"] == 600);
  BOOST_TEST(d["ttl"] == 500);
  BOOST_TEST(d["type"] == "service");
  BOOST_TEST(d["orphan"] == true);
  BOOST_TEST(d["renewable"] == true);
  BOOST_TEST(d["expire_time"].is_string());
  BOOST_TEST(!d.contains("last_renewal"));
  // POST is an update: the default policy only grants read, root may do both.
  BOOST_TEST(v.post("/v1/auth/token/lookup-self", json::object(), token).status == 403);
  BOOST_TEST(v.post("/v1/auth/token/lookup-self", json::object()).status == 200);
}

BOOST_AUTO_TEST_CASE(renew_self_rereads_the_role_ttls_and_keeps_the_policies) {
  Vault v;
  auto [role_id, secret] = v.role_with_secret("r", {{"token_ttl", 600}, {"token_policies", "a"}});
  std::string token = v.login(role_id, secret)["client_token"];
  v.post(kRole + "r", {{"token_ttl", 900}, {"token_policies", "b"}});
  v.clock.advance(60s);
  auto r = v.post("/v1/auth/token/renew-self", json::object(), token);
  BOOST_TEST(r.status == 200);
  BOOST_TEST(r.body["auth"]["lease_duration"] == 900);
  BOOST_TEST(r.body["auth"]["policies"] == json({"a", "default"}));
  auto d = v.get("/v1/auth/token/lookup-self", token).body["data"];
  BOOST_TEST(d["ttl"] == 900);
  BOOST_TEST(d.contains("last_renewal"));
  BOOST_TEST(d.contains("last_renewal_time"));
  auto inc = v.post("/v1/auth/token/renew-self", {{"increment", "30s"}}, token);
  BOOST_TEST(inc.body["auth"]["lease_duration"] == 30);
}

BOOST_AUTO_TEST_CASE(renewal_is_capped_by_the_max_ttl_with_vaults_warning) {
  Vault v;
  auto [role_id, secret] = v.role_with_secret("r", {{"token_ttl", 600}, {"token_max_ttl", 1000}});
  std::string token = v.login(role_id, secret)["client_token"];
  v.clock.advance(500s);
  auto r = v.post("/v1/auth/token/renew-self", json::object(), token);
  BOOST_TEST(r.body["auth"]["lease_duration"] == 500);
  BOOST_TEST(r.body["warnings"] ==
             json({"TTL of \"10m\" exceeded the effective max_ttl of \"8m20s\"; TTL value is capped accordingly"}));
}

BOOST_AUTO_TEST_CASE(renewal_after_the_role_was_deleted_is_a_500_but_the_token_lives_on) {
  Vault v;
  auto [role_id, secret] = v.role_with_secret("gone");
  std::string token = v.login(role_id, secret)["client_token"];
  v.del(kRole + "gone");
  BOOST_TEST(v.get("/v1/auth/token/lookup-self", token).status == 200);
  auto r = v.post("/v1/auth/token/renew-self", json::object(), token);
  BOOST_TEST(r.status == 500);
  BOOST_TEST(r.error() == "1 error occurred:\n\t* role \"gone\" does not exist during renewal\n\n");
}

BOOST_AUTO_TEST_CASE(expired_revoked_and_unknown_tokens_get_permission_denied_and_invalid_token) {
  Vault v;
  auto [role_id, secret] = v.role_with_secret("r", {{"token_ttl", 60}});
  std::string token = v.login(role_id, secret)["client_token"];
  BOOST_TEST(v.get("/v1/auth/token/lookup-self", token).status == 200);
  v.clock.advance(61s);
  for (std::string path : {"/v1/auth/token/lookup-self", "/v1/auth/approle/role/r"}) {
    auto r = v.get(path, token);
    BOOST_TEST(r.status == 403);
    BOOST_TEST(r.error() == kInvalidToken);
  }
  BOOST_TEST(v.post("/v1/auth/token/renew-self", json::object(), token).error() == kInvalidToken);
  BOOST_TEST(v.get("/v1/auth/token/lookup-self", "hvs.made-up").error() == kInvalidToken);
  auto none = v.get("/v1/auth/token/lookup-self", "");
  BOOST_TEST(none.status == 403);
  BOOST_TEST(none.error() == kPermissionDenied);
}

BOOST_AUTO_TEST_CASE(a_valid_token_without_the_policy_gets_only_permission_denied) {
  Vault v;
  auto [role_id, secret] = v.role_with_secret("r");
  std::string token = v.login(role_id, secret)["client_token"];
  auto r = v.get(kRole + "r", token);
  BOOST_TEST(r.status == 403);
  BOOST_TEST(r.error() == kPermissionDenied);
}

BOOST_AUTO_TEST_CASE(revoke_accessor_kills_the_token_and_lookup_accessor_hides_the_id) {
  Vault v;
  auto [role_id, secret] = v.role_with_secret("r");
  json a = v.login(role_id, secret);
  auto look = v.post("/v1/auth/token/lookup-accessor", {{"accessor", a["accessor"]}});
  BOOST_TEST(look.body["data"]["id"] == "");
  BOOST_TEST(look.body["data"]["meta"]["role_name"] == "r");
  BOOST_TEST(v.post("/v1/auth/token/revoke-accessor", {{"accessor", a["accessor"]}}).status == 204);
  BOOST_TEST(v.get("/v1/auth/token/lookup-self", a["client_token"]).error() == kInvalidToken);
  auto gone = v.post("/v1/auth/token/lookup-accessor", {{"accessor", a["accessor"]}});
  BOOST_TEST(gone.status == 400);
  BOOST_TEST(gone.error() == "1 error occurred:\n\t* invalid accessor\n\n");
}

BOOST_AUTO_TEST_CASE(listing_token_accessors_needs_sudo) {
  Vault v;
  auto [role_id, secret] = v.role_with_secret("r", {{"token_policies", "lister"}});
  v.put_policy("lister", {{"path", {{"auth/token/accessors", {{"capabilities", {"list"}}}}}}});
  std::string token = v.login(role_id, secret)["client_token"];
  BOOST_TEST(v.list("/v1/auth/token/accessors", token).status == 403);
  v.put_policy("lister", {{"path", {{"auth/token/accessors", {{"capabilities", {"list", "sudo"}}}}}}});
  auto r = v.list("/v1/auth/token/accessors", token);
  BOOST_TEST(r.status == 200);
  BOOST_TEST(r.body["data"]["keys"].size() == 2u);  // the root token and this one
}

BOOST_AUTO_TEST_CASE(revoke_prefix_on_the_login_path_kills_every_approle_token_and_needs_sudo) {
  Vault v;
  auto [id1, s1] = v.role_with_secret("one");
  auto [id2, s2] = v.role_with_secret("two", {{"token_policies", "revoker"}});
  std::string t1 = v.login(id1, s1)["client_token"], t2 = v.login(id2, s2)["client_token"];
  v.put_policy("revoker", {{"path", {{"sys/leases/revoke-prefix/*", {{"capabilities", {"update"}}}}}}});
  BOOST_TEST(v.post("/v1/sys/leases/revoke-prefix/auth/approle/login", json::object(), t2).status == 403);
  BOOST_TEST(v.call("PUT", "/v1/sys/leases/revoke-prefix/auth/approle/login").status == 204);
  BOOST_TEST(v.get("/v1/auth/token/lookup-self", t1).error() == kInvalidToken);
  BOOST_TEST(v.get("/v1/auth/token/lookup-self", t2).error() == kInvalidToken);
  BOOST_TEST(v.get("/v1/auth/token/lookup-self").status == 200);  // root has no lease
}

BOOST_AUTO_TEST_CASE(the_root_token_has_no_lease_to_renew) {
  Vault v;
  json d = v.get("/v1/auth/token/lookup-self").body["data"];
  BOOST_TEST(d["policies"] == json({"root"}));
  BOOST_TEST(d["path"] == "auth/token/root");
  BOOST_TEST(d["expire_time"].is_null());
  BOOST_TEST(d["ttl"] == 0);
  BOOST_TEST(!d.contains("renewable"));
  BOOST_TEST(!d.contains("issue_time"));
  BOOST_TEST(v.post("/v1/auth/token/renew-self", json::object()).error() ==
             "lease not found or lease is not renewable");
}

BOOST_AUTO_TEST_CASE(token_create_follows_the_parent_rules) {
  Vault v;
  auto c = v.post("/v1/auth/token/create", {{"policies", {"creator"}}, {"ttl", "1h"}, {"meta", {{"k", "v"}}}});
  BOOST_TEST(c.status == 200);
  json a = c.body["auth"];
  BOOST_TEST(a["policies"] == json({"creator", "default"}));
  BOOST_TEST(a["lease_duration"] == 3600);
  BOOST_TEST(a["orphan"] == false);
  BOOST_TEST(a["metadata"] == json({{"k", "v"}}));
  BOOST_TEST(c.body["warnings"] == json({"Policy \"creator\" does not exist"}));
  v.put_policy("creator", {{"path", {{"auth/token/create", {{"capabilities", {"update"}}}}}}});
  std::string child = a["client_token"];
  auto esc = v.post("/v1/auth/token/create", {{"policies", {"other"}}}, child);
  BOOST_TEST(esc.error() == "child policies must be subset of parent");
  BOOST_TEST(v.post("/v1/auth/token/create", {{"no_parent", true}}, child).error() ==
             "root or sudo privileges required to create orphan token");
  v.put_policy("sudoer", {{"path", {{"auth/token/create", {{"capabilities", {"update", "sudo"}}}}}}});
  std::string sudoer = v.post("/v1/auth/token/create", {{"policies", {"sudoer"}}}).body["auth"]["client_token"];
  BOOST_TEST(v.post("/v1/auth/token/create", {{"policies", {"root"}}}, sudoer).error() ==
             "root tokens may not be created without parent token being root");
  BOOST_TEST(v.post("/v1/auth/token/create", {{"no_parent", true}, {"policies", {"x"}}}, sudoer).status == 200);
  // Revoking the parent revokes the child.
  std::string grandchild = v.post("/v1/auth/token/create", json::object(), child).body["auth"]["client_token"];
  v.post("/v1/auth/token/revoke", {{"token", child}});
  BOOST_TEST(v.get("/v1/auth/token/lookup-self", grandchild).error() == kInvalidToken);
  auto fixed = v.post("/v1/auth/token/create", {{"id", "my-test-token"}, {"policies", {"p"}}});
  BOOST_TEST(fixed.body["auth"]["client_token"] == "my-test-token");
}

BOOST_AUTO_TEST_CASE(a_use_limited_token_dies_after_its_last_use) {
  Vault v;
  auto [role_id, secret] = v.role_with_secret("r", {{"token_num_uses", 2}});
  json a = v.login(role_id, secret);
  BOOST_TEST(a["num_uses"] == 2);
  std::string token = a["client_token"];
  auto first = v.get("/v1/auth/token/lookup-self", token);
  BOOST_TEST(first.body["data"]["num_uses"] == 1);
  BOOST_TEST(v.get("/v1/auth/token/lookup-self", token).status == 200);
  BOOST_TEST(v.get("/v1/auth/token/lookup-self", token).error() == kInvalidToken);
}

BOOST_AUTO_TEST_CASE(expired_secret_ids_still_log_in_until_the_periodic_tidy) {
  Vault v;
  v.post(kRole + "r", {{"secret_id_ttl", 60}});
  std::string role_id = v.get(kRole + "r/role-id").body["data"]["role_id"];
  std::string secret = v.post(kRole + "r/secret-id", json::object()).body["data"]["secret_id"];
  v.clock.advance(90s);
  BOOST_TEST(v.post(kLogin, {{"role_id", role_id}, {"secret_id", secret}}, "").status == 200);
  v.emu.tidy();
  BOOST_TEST(v.post(kLogin, {{"role_id", role_id}, {"secret_id", secret}}, "").status == 400);
}

BOOST_AUTO_TEST_CASE(secret_id_cidr_restrictions_apply_to_the_callers_address) {
  Vault v;
  v.post(kRole + "r", json::object());
  std::string role_id = v.get(kRole + "r/role-id").body["data"]["role_id"];
  std::string secret =
      v.post(kRole + "r/secret-id", {{"cidr_list", "10.0.0.0/8"}}).body["data"]["secret_id"];
  auto r = v.post(kLogin, {{"role_id", role_id}, {"secret_id", secret}}, "");
  BOOST_TEST(r.status == 400);
  BOOST_TEST(r.error() == "source address \"127.0.0.1\" unauthorized by CIDR restrictions on the secret ID");
}

BOOST_AUTO_TEST_CASE(admin_expire_and_revoke_act_on_tokens_by_accessor_or_value) {
  Vault v;
  auto [role_id, secret] = v.role_with_secret("r");
  json a = v.login(role_id, secret);
  BOOST_TEST(v.admin("POST", "/_emulator/tokens/expire", {{"accessor", a["accessor"]}}).status == 204);
  BOOST_TEST(v.get("/v1/auth/token/lookup-self", a["client_token"]).error() == kInvalidToken);
  json b = v.login(role_id, v.post(kRole + "r/secret-id", json::object()).body["data"]["secret_id"]);
  BOOST_TEST(v.admin("POST", "/_emulator/tokens/revoke", {{"token", b["client_token"]}}).status == 204);
  BOOST_TEST(v.get("/v1/auth/token/lookup-self", b["client_token"]).error() == kInvalidToken);
  BOOST_TEST(v.admin("POST", "/_emulator/tokens/revoke", {{"token", "nope"}}).status == 404);
}

BOOST_AUTO_TEST_CASE(batch_tokens_cannot_be_renewed) {
  Vault v;
  auto [role_id, secret] = v.role_with_secret("b", {{"token_type", "batch"}});
  json a = v.login(role_id, secret);
  BOOST_TEST(a["token_type"] == "batch");
  BOOST_TEST(a["client_token"].get<std::string>().rfind("hvb.", 0) == 0u);
  BOOST_TEST(v.post("/v1/auth/token/renew-self", json::object(), a["client_token"]).error() ==
             "batch tokens cannot be renewed");
}

BOOST_AUTO_TEST_CASE(revoke_self_ends_the_callers_token) {
  Vault v;
  auto [role_id, secret] = v.role_with_secret("r");
  std::string token = v.login(role_id, secret)["client_token"];
  BOOST_TEST(v.post("/v1/auth/token/revoke-self", json::object(), token).status == 204);
  BOOST_TEST(v.get("/v1/auth/token/lookup-self", token).error() == kInvalidToken);
}

BOOST_AUTO_TEST_SUITE_END()
