// Vault's HTTP layer as the emulator core reproduces it: verbs, bodies, headers, sys/health,
// seal and standby, injected faults, the admin API and state snapshots.
#include <boost/test/unit_test.hpp>

#include "tests/vault/emulator/emulator_fixture.h"

using namespace ps::vault::emulator;
using namespace ps::vault::emulator::testing;

namespace {

Reply health(Vault& v, const std::string& query = "", const std::string& method = "GET") {
  return v.raw_call(request(method, "/v1/sys/health", query));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(emulator_http)

BOOST_AUTO_TEST_CASE(health_answers_the_active_code_and_the_full_body_without_a_token) {
  Vault v;
  auto r = health(v);
  BOOST_TEST(r.status == 200);
  for (const char* k : {"initialized", "sealed", "standby", "performance_standby",
                        "replication_performance_mode", "replication_dr_mode", "server_time_utc",
                        "version", "enterprise", "cluster_name", "cluster_id", "echo_duration_ms",
                        "clock_skew_ms", "replication_primary_canary_age_ms"}) {
    BOOST_TEST(r.body.contains(k), k);
  }
  BOOST_TEST(r.body["replication_dr_mode"] == "disabled");
  BOOST_TEST(r.body["server_time_utc"] == 1800000000);
}

BOOST_AUTO_TEST_CASE(health_codes_follow_state_and_query_overrides) {
  Vault v;
  BOOST_TEST(health(v, "activecode=299").status == 299);
  v.admin("POST", "/_emulator/standby", {{"mode", "redirect"}, {"leader_address", "https://10.0.0.1:8200"}});
  BOOST_TEST(health(v).status == 429);
  BOOST_TEST(health(v).body["standby"] == true);
  BOOST_TEST(health(v, "standbyok=true").status == 200);
  BOOST_TEST(health(v, "standbycode=204").status == 204);
  v.admin("POST", "/_emulator/standby", {{"mode", "off"}});
  v.admin("POST", "/_emulator/seal");
  auto sealed = health(v);
  BOOST_TEST(sealed.status == 503);
  BOOST_TEST(sealed.body["sealed"] == true);
  BOOST_TEST(!sealed.body.contains("cluster_name"));
  BOOST_TEST(health(v, "sealedcode=200").status == 200);
  BOOST_TEST(health(v, "sealedcode=abc").status == 400);
  BOOST_TEST(health(v, "standbyok=maybe").status == 400);
  Options bare;
  Vault uninit(bare);
  BOOST_TEST(health(uninit).status == 501);
  BOOST_TEST(health(uninit, "uninitcode=200").status == 200);
  BOOST_TEST(health(uninit).body["initialized"] == false);
}

BOOST_AUTO_TEST_CASE(health_head_has_no_body_and_other_verbs_get_405) {
  Vault v;
  auto h = health(v, "", "HEAD");
  BOOST_TEST(h.status == 200);
  BOOST_TEST(h.raw.empty());
  auto p = health(v, "", "POST");
  BOOST_TEST(p.status == 405);
  BOOST_TEST(p.body == json({{"errors", json::array()}}));
}

BOOST_AUTO_TEST_CASE(leader_and_seal_status_need_no_token) {
  Vault v;
  auto l = v.raw_call(request("GET", "/v1/sys/leader"));
  BOOST_TEST(l.status == 200);
  BOOST_TEST(l.body["ha_enabled"] == false);
  BOOST_TEST(l.body["leader_address"] == "");
  auto s = v.raw_call(request("GET", "/v1/sys/seal-status"));
  BOOST_TEST(s.status == 200);
  BOOST_TEST(s.body["sealed"] == false);
  BOOST_TEST(s.body["type"] == "shamir");
  v.admin("POST", "/_emulator/seal");
  BOOST_TEST(v.raw_call(request("GET", "/v1/sys/seal-status")).body["sealed"] == true);
  BOOST_TEST(v.raw_call(request("GET", "/v1/sys/seal-status")).status == 200);
  BOOST_TEST(v.raw_call(request("GET", "/v1/sys/leader")).error() == "Vault is sealed");
}

BOOST_AUTO_TEST_CASE(sys_init_reports_initialisation_and_refuses_to_initialise) {
  Vault v;
  BOOST_TEST(v.raw_call(request("GET", "/v1/sys/init")).body == json({{"initialized", true}}));
  BOOST_TEST(v.raw_call(request("PUT", "/v1/sys/init")).error() == "Vault is already initialized");
  Options bare;
  bare.admin_token = "admin-token-for-tests";
  Vault uninit(bare);
  BOOST_TEST(uninit.raw_call(request("GET", "/v1/sys/init")).body == json({{"initialized", false}}));
  BOOST_TEST(uninit.get("/v1/auth/token/lookup-self").error() == "Vault is sealed");
  BOOST_TEST(uninit.admin("POST", "/_emulator/unseal").status == 400);
}

BOOST_AUTO_TEST_CASE(faults_apply_before_the_seal_check) {
  Vault v;
  v.admin("POST", "/_emulator/seal");
  v.admin("POST", "/_emulator/faults", {{"kind", "status"}, {"status", 500}});
  BOOST_TEST(v.emu.dispatch(request("GET", "/v1/auth/token/lookup-self", "", v.root)).response.status == 500);
  BOOST_TEST(v.emu.dispatch(request("GET", "/v1/auth/token/lookup-self", "", v.root)).response.status == 503);
}

BOOST_AUTO_TEST_CASE(a_sealed_vault_answers_503_everywhere_else_until_unsealed) {
  Vault v;
  BOOST_TEST(v.admin("POST", "/_emulator/seal").status == 204);
  auto r = v.get("/v1/auth/token/lookup-self");
  BOOST_TEST(r.status == 503);
  BOOST_TEST(r.body == json({{"errors", {"Vault is sealed"}}}));
  BOOST_TEST(v.post("/v1/auth/approle/login", {{"role_id", "x"}}, "").status == 503);
  BOOST_TEST(v.admin("POST", "/_emulator/unseal").status == 204);
  BOOST_TEST(v.get("/v1/auth/token/lookup-self").status == 200);
}

BOOST_AUTO_TEST_CASE(standby_redirects_with_location_or_reports_no_leader) {
  Vault v;
  v.admin("POST", "/_emulator/standby", {{"mode", "redirect"}, {"leader_address", "https://10.0.0.1:8200/"}});
  auto r = v.call("GET", "/v1/auth/approle/role/x", nullptr, "\x01root", {}, "a=b");
  BOOST_TEST(r.status == 307);
  BOOST_TEST(*r.header("Location") == "https://10.0.0.1:8200/v1/auth/approle/role/x?a=b");
  BOOST_TEST(v.raw_call(request("GET", "/v1/sys/leader")).body["leader_address"] == "https://10.0.0.1:8200");
  v.admin("POST", "/_emulator/standby", {{"mode", "no_leader"}});
  auto n = v.get("/v1/auth/token/lookup-self");
  BOOST_TEST(n.status == 503);
  BOOST_TEST(n.error() == "no active Vault instance found");
  BOOST_TEST(v.admin("POST", "/_emulator/standby", {{"mode", "sideways"}}).status == 400);
}

BOOST_AUTO_TEST_CASE(status_faults_answer_n_matching_requests_then_stop) {
  Vault v;
  v.admin("POST", "/_emulator/faults",
          {{"kind", "status"}, {"count", 2}, {"status", 429}, {"retry_after", 3}, {"match", "auth/approle/"}});
  v.admin("POST", "/_emulator/rate-limit-headers", {{"enabled", true}});
  BOOST_TEST(v.get("/v1/auth/token/lookup-self").status == 200);  // does not match
  auto f = v.emu.dispatch(request("GET", "/v1/auth/approle/role/x", "", v.root));
  BOOST_TEST(f.response.status == 429);
  BOOST_TEST(*f.response.header("Retry-After") == "3");
  BOOST_TEST(*f.response.header("X-RateLimit-Reset") == "3");
  BOOST_TEST(*f.response.header("X-RateLimit-Remaining") == "0");
  BOOST_TEST(json::parse(f.response.body)["errors"][0] ==
             "request path \"auth/approle/role/x\": rate limit quota exceeded");
  BOOST_TEST(v.emu.dispatch(request("GET", "/v1/auth/approle/role/y", "", v.root)).response.status == 429);
  BOOST_TEST(v.emu.dispatch(request("GET", "/v1/auth/approle/role/z", "", v.root)).response.status == 404);
}

BOOST_AUTO_TEST_CASE(faults_queue_in_order_and_filter_by_method_and_full_path) {
  Vault v;
  v.admin("POST", "/_emulator/faults", {{"kind", "status"}, {"status", 502}, {"method", "post"},
                                         {"errors", {"upstream"}}});
  v.admin("POST", "/_emulator/faults", {{"kind", "drop"}, {"match", "/v1/sys/health"}});
  v.admin("POST", "/_emulator/faults", {{"kind", "hang"}, {"hang_ms", 250}});
  BOOST_TEST((v.emu.dispatch(request("GET", "/v1/sys/health")).kind == Outcome::Kind::drop));
  auto hang = v.emu.dispatch(request("GET", "/v1/sys/health"));
  BOOST_TEST((hang.kind == Outcome::Kind::hang));
  BOOST_TEST(hang.hang.count() == 250);
  auto post = v.emu.dispatch(request("POST", "/v1/auth/token/renew-self", "", v.root));
  BOOST_TEST(post.response.status == 502);
  BOOST_TEST(json::parse(post.response.body) == json({{"errors", {"upstream"}}}));
  BOOST_TEST(v.emu.dispatch(request("GET", "/v1/sys/health")).response.status == 200);
  v.admin("POST", "/_emulator/faults", {{"kind", "status"}, {"status", 501}, {"count", 5}});
  BOOST_TEST(v.emu.dispatch(request("GET", "/v1/sys/health")).response.status == 501);
  BOOST_TEST(v.admin("DELETE", "/_emulator/faults").status == 204);
  BOOST_TEST(v.emu.dispatch(request("GET", "/v1/sys/health")).response.status == 200);
  BOOST_TEST(v.admin("POST", "/_emulator/faults", {{"kind", "explode"}}).status == 400);
  auto stats = v.admin("GET", "/_emulator/stats").body;
  BOOST_TEST(stats["dropped"] == 1);
  BOOST_TEST(stats["by_status"]["502"] == 1);
  BOOST_TEST(stats["by_status"]["501"] == 1);
  BOOST_TEST(stats["by_status"]["200"] == 2);
  BOOST_TEST(stats["requests"] == 4);  // 502, 200, 501, 200: the drop and the hang not answered
}

BOOST_AUTO_TEST_CASE(stats_settle_requests_in_number_order_whatever_order_they_finish) {
  Vault v;
  const auto first = v.emu.request_received();
  const auto second = v.emu.request_received();
  const auto third = v.emu.request_received();
  BOOST_TEST(first == 1u);
  BOOST_TEST(second == 2u);
  BOOST_TEST(third == 3u);
  BOOST_TEST(v.emu.stats().settled == 0u);
  v.emu.request_settled(second);
  BOOST_TEST(v.emu.stats().settled == 0u);  // the first is still open
  v.emu.request_settled(first);
  BOOST_TEST(v.emu.stats().settled == 2u);
  auto stats = v.admin("GET", "/_emulator/stats").body;  // in-process: no front end numbers it
  BOOST_TEST(stats["received"] == 3);
  BOOST_TEST(stats["settled"] == 2);
  v.emu.request_settled(third);
  BOOST_TEST(v.emu.stats().settled == 3u);
  BOOST_TEST(v.emu.stats().received == 3u);
}

BOOST_AUTO_TEST_CASE(admin_api_needs_its_token_and_is_absent_without_one) {
  Vault v;
  HttpRequest r = request("POST", "/_emulator/seal");
  BOOST_TEST(v.raw_call(r).status == 403);
  r.headers.push_back({"X-Emulator-Admin-Token", "wrong"});
  BOOST_TEST(v.raw_call(r).status == 403);
  BOOST_TEST(v.admin("GET", "/_emulator/nothing").status == 404);
  Options o = dev_options();
  o.admin_token.clear();
  Vault closed(o);
  BOOST_TEST(closed.admin("POST", "/_emulator/seal").status == 404);
  BOOST_TEST(closed.get("/v1/auth/token/lookup-self").status == 200);
}

BOOST_AUTO_TEST_CASE(agent_listener_mode_requires_the_request_header) {
  Options o = dev_options();
  o.require_request_header = true;
  Vault v(o);
  auto r = v.get("/v1/auth/token/lookup-self");
  BOOST_TEST(r.status == 412);
  BOOST_TEST(r.error() == "missing \"X-Vault-Request\" header");
  BOOST_TEST(v.call("GET", "/v1/auth/token/lookup-self", nullptr, "\x01root", {{"X-Vault-Request", "true"}}).status == 200);
  BOOST_TEST(v.call("GET", "/v1/auth/token/lookup-self", nullptr, "\x01root", {{"X-Vault-Request", "yes"}}).status == 412);
  Vault plain;
  BOOST_TEST(plain.get("/v1/auth/token/lookup-self").status == 200);  // the server does not require it
}

// Regression: a number beyond a double made the JSON parser throw out_of_range, which escaped
// the body parser (it caught parse_error only) and aborted the emulator.
BOOST_AUTO_TEST_CASE(a_number_beyond_a_double_is_a_400_not_an_abort) {
  Vault v;
  HttpRequest r = request("POST", "/v1/auth/approle/role/a", "", v.root);
  r.body = R"({"token_ttl": 1e999})";
  auto bad = v.raw_call(r);
  BOOST_TEST(bad.status == 400);
  BOOST_TEST(bad.error().rfind("failed to parse JSON input: ", 0) == 0u);
}

BOOST_AUTO_TEST_CASE(bodies_are_json_objects_or_form_data) {
  Vault v;
  HttpRequest r = request("POST", "/v1/auth/approle/role/a", "", v.root);
  r.body = "{not json";
  auto bad = v.raw_call(r);
  BOOST_TEST(bad.status == 400);
  BOOST_TEST(bad.error().rfind("failed to parse JSON input: ", 0) == 0u);
  r.body = "[1,2]";
  BOOST_TEST(v.raw_call(r).error() ==
             "failed to parse JSON input: json: cannot unmarshal array into Go value of type map[string]interface {}");
  r.body = "token_ttl=77&token_policies=a%2Cb";
  r.headers.push_back({"Content-Type", "application/x-www-form-urlencoded"});
  BOOST_TEST(v.raw_call(r).status == 204);
  BOOST_TEST(v.get("/v1/auth/approle/role/a").body["data"]["token_policies"] == json({"a", "b"}));
}

BOOST_AUTO_TEST_CASE(oversized_bodies_get_413) {
  Options o = dev_options();
  o.max_request_size = 64;
  Vault v(o);
  auto r = v.post("/v1/auth/approle/role/a", {{"token_policies", std::string(100, 'x')}});
  BOOST_TEST(r.status == 413);
  BOOST_TEST(r.error() == "failed to parse JSON input: http: request body too large");
}

BOOST_AUTO_TEST_CASE(verbs_map_to_operations_like_vaults_http_layer) {
  Vault v;
  auto weird = v.call("BREW", "/v1/auth/approle/role/a");
  BOOST_TEST(weird.status == 405);
  BOOST_TEST(weird.body == json({{"errors", json::array()}}));
  v.post("/v1/auth/approle/role/a", json::object());
  auto patch = v.call("PATCH", "/v1/auth/approle/role/a", json::object());
  BOOST_TEST(patch.status == 405);
  BOOST_TEST(patch.error() == "1 error occurred:\n\t* unsupported operation\n\n");
  auto slash = v.post("/v1/auth/approle/role/a/", json::object());
  BOOST_TEST(slash.status == 400);
  BOOST_TEST(slash.error() == "cannot write to a path ending in '/'");
  BOOST_TEST(v.call("GET", "/v1/auth/approle/role", nullptr, "\x01root", {}, "list=maybe").status == 400);
  BOOST_TEST(v.call("GET", "/v1/auth/approle/role", nullptr, "\x01root", {}, "list=true").body["data"]["keys"] == json({"a"}));
  BOOST_TEST(v.get("/v1/auth/approle/role").status == 405);
}

BOOST_AUTO_TEST_CASE(responses_carry_cache_control_and_echo_the_namespace) {
  Vault v;
  auto r = v.call("GET", "/v1/auth/approle/role/none", nullptr, "\x01root", {{"X-Vault-Namespace", "team-a/"}});
  BOOST_TEST(r.status == 404);
  BOOST_TEST(*r.header("Cache-Control") == "no-store");
  BOOST_TEST(*r.header("X-Vault-Namespace") == "team-a/");
  BOOST_TEST(v.get("/v1/auth/approle/role/none").header("X-Vault-Namespace") == nullptr);
}

BOOST_AUTO_TEST_CASE(unclean_paths_are_redirected_and_escapes_decoded_before_routing) {
  Vault v;
  auto r = v.get("/v1/auth/approle/role/x/../../../token/lookup-self");
  BOOST_TEST(r.status == 301);
  BOOST_TEST(*r.header("Location") == "/v1/auth/token/lookup-self");
  auto enc = v.post("/v1/auth/approle/role/a%2Fb", json::object());
  BOOST_TEST(enc.status == 404);  // decoded to role/a/b: no such route
  BOOST_TEST(v.get("/v2/whatever").status == 404);
}

BOOST_AUTO_TEST_CASE(snapshots_restore_roles_secrets_tokens_policies_and_seal_state) {
  Vault a;
  auto [role_id, secret] = a.role_with_secret("agent-1", {{"token_policies", "p"}});
  a.put_policy("p", {{"path", {{"x", {{"capabilities", {"read"}}}}}}});
  std::string token = a.login(role_id, secret)["client_token"];
  a.admin("POST", "/_emulator/seal");
  std::string snap = a.emu.snapshot();

  Vault b;
  ps::Status restored = b.emu.restore("{\"format\":\"something else\"}");
  BOOST_TEST(!restored.ok());
  BOOST_TEST(!restored.message().empty());
  BOOST_TEST(b.get("/v1/auth/token/lookup-self").status == 200);  // unchanged after a bad restore
  BOOST_REQUIRE(b.emu.restore(snap).ok());
  BOOST_TEST(b.get("/v1/auth/token/lookup-self").status == 503);
  b.admin("POST", "/_emulator/unseal");
  BOOST_TEST(b.get("/v1/auth/approle/role/agent-1").body["data"]["token_policies"] == json({"p"}));
  BOOST_TEST(b.get("/v1/auth/token/lookup-self", token).body["data"]["policies"] == json({"default", "p"}));
  BOOST_TEST(b.get("/v1/sys/policies/acl/p").status == 200);
  BOOST_TEST(b.post("/v1/auth/approle/login", {{"role_id", role_id}, {"secret_id", secret}}, "").status == 200);
  BOOST_TEST(b.get("/v1/auth/token/lookup-self", a.root).status == 200);
  BOOST_TEST(b.emu.change_count() > 0u);
}

BOOST_AUTO_TEST_CASE(invalid_utf8_from_clients_never_breaks_the_answer) {
  Vault v;
  auto r = v.post("/v1/sys/policies/acl/x", {{"policy", "path"}});  // base64 of junk bytes
  BOOST_TEST(r.status == 400);
  HttpRequest q = request("GET", "/v1/nowhere/%ff", "", v.root);
  BOOST_TEST(v.raw_call(q).status == 404);
}

BOOST_AUTO_TEST_SUITE_END()
