// Auth mounts as examples/vault/setup.sh drives them: sys/auth (list, enable, disable),
// sys/auth/<path>/tune (read, write; sudo), and the tuned TTLs bounding AppRole tokens.
#include <boost/test/unit_test.hpp>

#include "tests/vault/emulator/emulator_fixture.h"
#include "vault/emulator/state.h"

using namespace ps::vault::emulator;
using namespace ps::vault::emulator::testing;

BOOST_AUTO_TEST_SUITE(emulator_auth_mount)

BOOST_AUTO_TEST_CASE(tune_of_an_untuned_mount_reports_the_system_ttls) {
  Vault v;
  auto r = v.get("/v1/sys/auth/approle/tune");
  BOOST_TEST(r.status == 200);
  BOOST_TEST(r.body["data"]["default_lease_ttl"] == 2764800);
  BOOST_TEST(r.body["data"]["max_lease_ttl"] == 2764800);
  BOOST_TEST(r.body["data"]["token_type"] == "default-service");
  BOOST_TEST(r.body["data"]["force_no_cache"] == false);
  // The list shows the stored values: 0 means the system value.
  BOOST_TEST(v.get("/v1/sys/auth").body["data"]["approle/"]["config"]["max_lease_ttl"] == 0);
}

BOOST_AUTO_TEST_CASE(tune_write_accepts_durations_seconds_and_system) {
  Vault v;
  BOOST_TEST(v.post("/v1/sys/auth/agents", {{"type", "approle"}, {"description", "a"}}).status == 204);
  auto w = v.post("/v1/sys/auth/agents/tune",
                  {{"default_lease_ttl", "1h"}, {"max_lease_ttl", 14400}, {"description", "agents"}});
  BOOST_TEST(w.status == 204);
  auto r = v.get("/v1/sys/auth/agents/tune").body["data"];
  BOOST_TEST(r["default_lease_ttl"] == 3600);
  BOOST_TEST(r["max_lease_ttl"] == 14400);
  BOOST_TEST(r["description"] == "agents");
  auto listed = v.get("/v1/sys/auth").body["data"]["agents/"];
  BOOST_TEST(listed["config"]["max_lease_ttl"] == 14400);
  BOOST_TEST(listed["description"] == "agents");
  // "system" resets a TTL to the system value; a field left out keeps its value.
  BOOST_TEST(v.post("/v1/sys/auth/agents/tune", {{"max_lease_ttl", "system"}}).status == 204);
  BOOST_TEST(v.get("/v1/sys/auth/agents/tune").body["data"]["max_lease_ttl"] == 2764800);
  BOOST_TEST(v.get("/v1/sys/auth/agents/tune").body["data"]["default_lease_ttl"] == 3600);
  // Only stored values are compared: a system default above a tuned max is accepted.
  BOOST_TEST(v.post("/v1/sys/auth/agents/tune", {{"default_lease_ttl", "system"}, {"max_lease_ttl", "1h"}}).status == 204);
  BOOST_TEST(v.get("/v1/sys/auth/agents/tune").body["data"]["default_lease_ttl"] == 2764800);
}

BOOST_AUTO_TEST_CASE(tune_refuses_a_max_below_the_default_and_bad_values) {
  Vault v;
  auto below = v.post("/v1/sys/auth/approle/tune", {{"default_lease_ttl", "2h"}, {"max_lease_ttl", "1h"}});
  BOOST_TEST(below.status == 400);
  BOOST_TEST(below.error() ==
             "backend max lease TTL of 3600 would be less than backend default lease TTL of 7200");
  BOOST_TEST(v.post("/v1/sys/auth/approle/tune", {{"max_lease_ttl", "soon"}}).error() ==
             "time: invalid duration \"soon\"");
  BOOST_TEST(v.get("/v1/sys/auth/approle/tune").body["data"]["max_lease_ttl"] == 2764800);
  // Vault applies the TTLs before it looks at token_type.
  auto bad_type = v.post("/v1/sys/auth/approle/tune", {{"max_lease_ttl", "2h"}, {"token_type", "weird"}});
  BOOST_TEST(bad_type.status == 400);
  BOOST_TEST(bad_type.error() == "invalid value for 'token_type'");
  BOOST_TEST(v.get("/v1/sys/auth/approle/tune").body["data"]["max_lease_ttl"] == 7200);
  BOOST_TEST(v.get("/v1/sys/auth/approle/tune").body["data"]["token_type"] == "default-service");
}

BOOST_AUTO_TEST_CASE(tune_of_a_missing_mount_is_a_400) {
  Vault v;
  auto r = v.get("/v1/sys/auth/nothere/tune");
  BOOST_TEST(r.status == 400);
  BOOST_TEST(r.error() == "cannot fetch sysview for path \"auth/nothere/\"");
  auto w = v.post("/v1/sys/auth/nothere/tune", {{"max_lease_ttl", "1h"}});
  BOOST_TEST(w.status == 400);
  BOOST_TEST(w.error() == "tune of path \"auth/nothere/\" failed: no mount entry found");
}

BOOST_AUTO_TEST_CASE(tune_needs_sudo_like_every_sys_auth_path) {
  Vault v;
  v.put_policy("reader", {{"path", {{"sys/auth/*", {{"capabilities", {"read", "update"}}}}}}});
  std::string token =
      v.post("/v1/auth/token/create", {{"policies", {"reader"}}}).body["auth"]["client_token"];
  BOOST_TEST(v.get("/v1/sys/auth/approle/tune", token).status == 403);
  BOOST_TEST(v.post("/v1/sys/auth/approle/tune", {{"max_lease_ttl", "1h"}}, token).status == 403);
  v.put_policy("reader", {{"path", {{"sys/auth/*", {{"capabilities", {"read", "update", "sudo"}}}}}}});
  BOOST_TEST(v.get("/v1/sys/auth/approle/tune", token).status == 200);
  BOOST_TEST(v.post("/v1/sys/auth/approle/tune", {{"max_lease_ttl", "1h"}}, token).status == 204);
}

BOOST_AUTO_TEST_CASE(a_tuned_max_lease_ttl_caps_login_tokens_and_their_renewal) {
  Vault v;
  BOOST_TEST(v.post("/v1/sys/auth/approle/tune",
                    {{"default_lease_ttl", "30m"}, {"max_lease_ttl", "1h"}}).status == 204);
  auto [role_id, secret] = v.role_with_secret("agent-1");
  json auth = v.login(role_id, secret);
  BOOST_TEST(auth["lease_duration"] == 1800);  // the mount's default: the role sets no TTL
  auto [role2, secret2] = v.role_with_secret("agent-2", {{"token_ttl", "3h"}});
  json capped = v.login(role2, secret2);
  BOOST_TEST(capped["lease_duration"] == 3600);  // the mount's max wins over the role's TTL
  std::string token = capped["client_token"];
  v.clock.advance(std::chrono::minutes{50});
  auto renewed = v.post("/v1/auth/token/renew-self", json::object(), token);
  BOOST_TEST(renewed.status == 200);
  BOOST_TEST(renewed.body["auth"]["lease_duration"] == 600);  // what is left of the mount's hour
}

BOOST_AUTO_TEST_CASE(tuning_survives_the_state_file) {
  State s;
  Mount m;
  m.path = "agents";
  m.accessor = "auth_approle_x";
  m.default_lease_ttl = 600;
  m.max_lease_ttl = 7200;
  m.token_type = "service";
  s.mounts.emplace(m.path, m);
  auto back = state_from_text(state_to_json(s).dump());
  BOOST_TEST_REQUIRE(back.ok());
  const Mount& b = back->mounts.at("agents");
  BOOST_TEST(b.default_lease_ttl == 600);
  BOOST_TEST(b.max_lease_ttl == 7200);
  BOOST_TEST(b.token_type == "service");
  // A state file written before tuning existed still loads, untuned.
  json old = state_to_json(s);
  for (auto& mj : old["mounts"]) {
    mj.erase("default_lease_ttl");
    mj.erase("max_lease_ttl");
    mj.erase("token_type");
  }
  auto untuned = state_from_text(old.dump());
  BOOST_TEST_REQUIRE(untuned.ok());
  BOOST_TEST(untuned->mounts.at("agents").max_lease_ttl == 0);
  BOOST_TEST(untuned->mounts.at("agents").token_type == "default-service");
}

BOOST_AUTO_TEST_SUITE_END()
