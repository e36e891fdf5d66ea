// Policy parsing and ACL evaluation by Vault's rules, directly and through the emulator.
#include <boost/test/unit_test.hpp>

#include "tests/vault/emulator/emulator_fixture.h"
#include "vault/emulator/acl.h"

using namespace ps::vault::emulator;
using namespace ps::vault::emulator::testing;

namespace {

std::shared_ptr<const Acl> acl_of(const std::vector<json>& docs) {
  static std::vector<Policy> keep;  // Acl::build copies the rules it needs
  std::vector<Policy> parsed;
  for (std::size_t i = 0; i < docs.size(); ++i) {
    std::string name = "p";  // not "p" + std::to_string(i): a GCC 12 -Wrestrict false positive
    name += std::to_string(i);
    auto p = parse_policy(name, docs[i].dump());
    BOOST_REQUIRE_MESSAGE(p.ok(), p.status().message());
    parsed.push_back(*p);
  }
  std::vector<const Policy*> ptrs;
  for (const auto& p : parsed) ptrs.push_back(&p);
  return Acl::build(ptrs, false);
}

json rule(const std::string& path, std::vector<std::string> caps) {
  return {{"path", {{path, {{"capabilities", caps}}}}}};
}

bool allows(const Acl& acl, Operation op, const std::string& path, const json& data = json::object()) {
  return acl.check(op, path, data).allowed;
}

const json kSidecarPolicy = {{"path",
                              {{"auth/approle/role/agent-*", {{"capabilities", {"read", "update"}}}},
                               {"auth/token/lookup-self", {{"capabilities", {"read"}}}},
                               {"auth/token/renew-self", {{"capabilities", {"update"}}}}}}};

}  // namespace

BOOST_AUTO_TEST_SUITE(emulator_acl)

BOOST_AUTO_TEST_CASE(parses_json_hcl_and_base64_policies) {
  auto j = parse_policy("a", rule("secret/*", {"read"}).dump());
  BOOST_REQUIRE(j.ok());
  BOOST_TEST(j->paths.at(0).path == "secret/");
  BOOST_TEST(j->paths.at(0).is_prefix);
  const std::string hcl = R"(
    # comment
    path "auth/approle/role/+/policies" {
      capabilities = ["read", "update"]   // trailing comment
    }
    /* block
       comment */
    path "/sys/x" { capabilities = ["deny", "read"] allowed_parameters = { "k" = ["v*"] } }
  )";
  auto h = parse_policy("b", hcl);
  BOOST_REQUIRE_MESSAGE(h.ok(), h.status().message());
  BOOST_TEST(h->paths.size() == 2u);
  BOOST_TEST(h->paths[0].has_segment_wildcards);
  BOOST_TEST(h->paths[1].path == "sys/x");
  BOOST_TEST(h->paths[1].perms.caps == cap::deny);
  auto b = parse_policy("c", "cGF0aCAic2VjcmV0LyoiIHsgY2FwYWJpbGl0aWVzID0gWyJyZWFkIl0gfQ==");
  BOOST_REQUIRE_MESSAGE(b.ok(), b.status().message());  // base64 of: path "secret/*" { capabilities = ["read"] }
  BOOST_TEST(b->paths.at(0).path == "secret/");
  BOOST_TEST(b->raw == "cGF0aCAic2VjcmV0LyoiIHsgY2FwYWJpbGl0aWVzID0gWyJyZWFkIl0gfQ==");
}

BOOST_AUTO_TEST_CASE(rejects_unknown_capabilities_and_plus_star) {
  auto p = parse_policy("a", rule("x", {"fly"}).dump());
  BOOST_TEST(!p.ok());
  BOOST_TEST(p.status().message() == "failed to parse policy: path \"x\": invalid capability \"fly\"");
  p = parse_policy("a", rule("a/+*", {"read"}).dump());
  BOOST_TEST(!p.ok());
  BOOST_TEST(p.status().message().find("'+*' is forbidden") != std::string::npos);
  p = parse_policy("a", "path \"x\" { capabilities = [");
  BOOST_TEST(!p.ok());
  BOOST_TEST(p.status().message().rfind("failed to parse policy: ", 0) == 0u);
}

BOOST_AUTO_TEST_CASE(an_exact_rule_beats_every_glob_and_only_the_winner_applies) {
  auto acl = acl_of({rule("auth/approle/role/*", {"read", "update"}),
                     rule("auth/approle/role/agent-1", {"update"})});
  BOOST_TEST(!allows(*acl, Operation::read, "auth/approle/role/agent-1"));
  BOOST_TEST(allows(*acl, Operation::update, "auth/approle/role/agent-1"));
  BOOST_TEST(allows(*acl, Operation::read, "auth/approle/role/agent-2"));
}

BOOST_AUTO_TEST_CASE(a_list_also_tries_the_path_without_its_trailing_slash) {
  auto acl = acl_of({rule("auth/approle/role", {"list"})});
  BOOST_TEST(allows(*acl, Operation::list, "auth/approle/role/"));
  BOOST_TEST(!allows(*acl, Operation::read, "auth/approle/role/"));
}

BOOST_AUTO_TEST_CASE(the_longest_prefix_glob_wins_among_globs) {
  auto acl = acl_of({rule("auth/*", {"read"}), rule("auth/approle/role/*", {"deny"})});
  BOOST_TEST(!allows(*acl, Operation::read, "auth/approle/role/x"));
  BOOST_TEST(allows(*acl, Operation::read, "auth/approle/login"));
}

BOOST_AUTO_TEST_CASE(a_later_wildcard_position_beats_an_earlier_one) {
  // The sheet's caveat: a `+` deny loses to the agent-* glob (rule 1).
  auto acl = acl_of({rule("auth/approle/role/agent-*", {"update"}),
                     rule("auth/approle/role/+/secret-id", {"deny"})});
  BOOST_TEST(allows(*acl, Operation::update, "auth/approle/role/agent-1/secret-id"));
  auto acl2 = acl_of({rule("a/b/+", {"read"}), rule("a/+/c", {"update"})});
  BOOST_TEST(allows(*acl2, Operation::read, "a/b/c"));
  BOOST_TEST(!allows(*acl2, Operation::update, "a/b/c"));
}

BOOST_AUTO_TEST_CASE(ties_go_to_no_glob_then_fewer_plus_then_longer_then_larger) {
  auto no_glob = acl_of({rule("a/+/bar", {"read"}), rule("a/+/ba*", {"update"})});
  BOOST_TEST(allows(*no_glob, Operation::read, "a/x/bar"));
  BOOST_TEST(!allows(*no_glob, Operation::update, "a/x/bar"));
  auto fewer = acl_of({rule("a/+/c/d", {"read"}), rule("a/+/+/d", {"update"})});
  BOOST_TEST(allows(*fewer, Operation::read, "a/b/c/d"));
  BOOST_TEST(!allows(*fewer, Operation::update, "a/b/c/d"));
  auto longer = acl_of({rule("a/+/bc*", {"read"}), rule("a/+/b*", {"update"})});
  BOOST_TEST(allows(*longer, Operation::read, "a/x/bcd"));
  BOOST_TEST(!allows(*longer, Operation::update, "a/x/bcd"));
}

BOOST_AUTO_TEST_CASE(the_same_pattern_in_several_policies_is_merged_and_deny_wins) {
  auto merged = acl_of({rule("s/x", {"read"}), rule("s/x", {"update"})});
  BOOST_TEST(allows(*merged, Operation::read, "s/x"));
  BOOST_TEST(allows(*merged, Operation::update, "s/x"));
  auto denied = acl_of({rule("s/x", {"read"}), rule("s/x", {"deny"})});
  BOOST_TEST(!allows(*denied, Operation::read, "s/x"));
  BOOST_TEST(denied->capabilities("s/x") == std::vector<std::string>{"deny"});
}

BOOST_AUTO_TEST_CASE(matching_is_case_sensitive) {
  auto acl = acl_of({kSidecarPolicy});
  BOOST_TEST(allows(*acl, Operation::update, "auth/approle/role/agent-7"));
  BOOST_TEST(!allows(*acl, Operation::update, "auth/approle/role/Agent-7"));
}

BOOST_AUTO_TEST_CASE(parameter_constraints_follow_vaults_order) {
  json doc = {{"path",
               {{"r/x",
                 {{"capabilities", {"update"}},
                  {"required_parameters", {"name"}},
                  {"allowed_parameters", {{"name", {"agent-*"}}, {"ttl", json::array()}}},
                  {"denied_parameters", {{"ttl", {"0"}}}}}}}}};
  auto acl = acl_of({doc});
  BOOST_TEST(!allows(*acl, Operation::update, "r/x", json::object()));  // required missing
  BOOST_TEST(allows(*acl, Operation::update, "r/x", {{"name", "agent-1"}}));
  BOOST_TEST(!allows(*acl, Operation::update, "r/x", {{"name", "root"}}));
  BOOST_TEST(!allows(*acl, Operation::update, "r/x", {{"name", "agent-1"}, {"ttl", "0"}}));
  BOOST_TEST(allows(*acl, Operation::update, "r/x", {{"name", "agent-1"}, {"ttl", "5"}}));
  BOOST_TEST(!allows(*acl, Operation::update, "r/x", {{"name", "agent-1"}, {"other", 1}}));
  auto open = acl_of({{{"path", {{"r/y", {{"capabilities", {"update"}}, {"allowed_parameters", {{"a", {"1"}}}}}}}}}});
  BOOST_TEST(allows(*open, Operation::update, "r/y", json::object()));  // no data: allowed
}

BOOST_AUTO_TEST_CASE(capabilities_lists_the_winning_rules_capabilities) {
  auto acl = acl_of({kSidecarPolicy});
  BOOST_TEST(acl->capabilities("auth/approle/role/agent-3") == (std::vector<std::string>{"read", "update"}));
  BOOST_TEST(acl->capabilities("sys/mounts") == std::vector<std::string>{"deny"});
  BOOST_TEST(Acl::build({}, true)->capabilities("x") == std::vector<std::string>{"root"});
}

BOOST_AUTO_TEST_CASE(the_minimal_sidecar_policy_is_sufficient_and_refuses_role_creation) {
  Vault v;
  v.put_policy("sidecar", kSidecarPolicy);
  v.post("/v1/auth/approle/role/agent-1", {{"token_policies", "t0"}});
  std::string token = v.post("/v1/auth/token/create", {{"policies", {"sidecar"}}, {"no_default_policy", true}})
                          .body["auth"]["client_token"];
  BOOST_TEST(v.get("/v1/auth/approle/role/agent-1", token).status == 200);
  BOOST_TEST(v.get("/v1/auth/approle/role/agent-1/policies", token).status == 200);
  BOOST_TEST(v.post("/v1/auth/approle/role/agent-1/policies", {{"token_policies", "t1"}}, token).status == 204);
  BOOST_TEST(v.post("/v1/auth/approle/role/agent-1", {{"token_policies", "t2"}}, token).status == 204);
  BOOST_TEST(v.get("/v1/auth/token/lookup-self", token).status == 200);
  BOOST_TEST(v.post("/v1/auth/token/renew-self", json::object(), token).status == 200);
  auto create = v.post("/v1/auth/approle/role/agent-2", json::object(), token);
  BOOST_TEST(create.status == 403);
  BOOST_TEST(create.error() == kPermissionDenied);
  BOOST_TEST(v.list("/v1/auth/approle/role", token).status == 403);
  BOOST_TEST(v.post("/v1/auth/approle/role/other/policies", {{"token_policies", "x"}}, token).status == 403);
  // The documented caveat: the glob also lets the holder mint secret IDs.
  BOOST_TEST(v.post("/v1/auth/approle/role/agent-1/secret-id", json::object(), token).status == 200);
}

BOOST_AUTO_TEST_CASE(the_plus_policies_rule_allows_the_per_field_endpoint_only) {
  Vault v;
  v.put_policy("narrow", {{"path", {{"auth/approle/role/+/policies", {{"capabilities", {"read", "update"}}}}}}});
  v.post("/v1/auth/approle/role/agent-1", json::object());
  std::string token = v.post("/v1/auth/token/create", {{"policies", {"narrow"}}}).body["auth"]["client_token"];
  BOOST_TEST(v.post("/v1/auth/approle/role/agent-1/policies", {{"token_policies", "t1"}}, token).status == 204);
  BOOST_TEST(v.get("/v1/auth/approle/role/agent-1/policies", token).body["data"]["token_policies"] == json({"t1"}));
  BOOST_TEST(v.post("/v1/auth/approle/role/agent-1/secret-id", json::object(), token).status == 403);
  BOOST_TEST(v.post("/v1/auth/approle/role/agent-1", json::object(), token).status == 403);
  // A write to a missing role passes the ACL and then gets 404 from the backend.
  BOOST_TEST(v.post("/v1/auth/approle/role/agent-9/policies", {{"token_policies", "x"}}, token).status == 404);
}

BOOST_AUTO_TEST_CASE(update_only_tokens_get_403_writing_a_deleted_role) {
  Vault v;
  v.put_policy("upd", rule("auth/approle/role/*", {"update"}));
  v.post("/v1/auth/approle/role/agent-1", json::object());
  std::string token = v.post("/v1/auth/token/create", {{"policies", {"upd"}}}).body["auth"]["client_token"];
  BOOST_TEST(v.post("/v1/auth/approle/role/agent-1", {{"token_ttl", 5}}, token).status == 204);
  v.del("/v1/auth/approle/role/agent-1");
  auto r = v.post("/v1/auth/approle/role/agent-1", {{"token_ttl", 5}}, token);
  BOOST_TEST(r.status == 403);
  BOOST_TEST(v.get("/v1/auth/approle/role/agent-1").status == 404);
}

BOOST_AUTO_TEST_CASE(a_non_root_token_is_refused_before_an_unknown_path_is_reported) {
  Vault v;
  std::string token = v.post("/v1/auth/token/create", {{"policies", {"nothing"}}}).body["auth"]["client_token"];
  BOOST_TEST(v.get("/v1/secret/data/x", token).status == 403);
  auto root = v.get("/v1/secret/data/x");
  BOOST_TEST(root.status == 404);
  BOOST_TEST(root.error() == "no handler for route \"secret/data/x\". route entry not found.");
  BOOST_TEST(v.get("/v1/sys/nothing-here").error() == "1 error occurred:\n\t* unsupported path\n\n");
}

BOOST_AUTO_TEST_CASE(policy_api_stores_lists_reads_and_protects_builtins) {
  Vault v;
  auto w = v.post("/v1/sys/policies/acl/Sidecar", {{"policy", kSidecarPolicy.dump()}});
  BOOST_TEST(w.status == 204);
  auto r = v.get("/v1/sys/policies/acl/sidecar");
  BOOST_TEST(r.body["data"]["name"] == "sidecar");
  BOOST_TEST(r.body["data"]["policy"] == kSidecarPolicy.dump());
  BOOST_TEST(v.list("/v1/sys/policies/acl").body["data"]["keys"] == json({"default", "root", "sidecar"}));
  BOOST_TEST(v.get("/v1/sys/policies/acl/default").body["data"]["policy"].get<std::string>().find(
                 "auth/token/lookup-self") != std::string::npos);
  BOOST_TEST(v.post("/v1/sys/policies/acl/x", json::object()).error() == "'policy' parameter not supplied or empty");
  BOOST_TEST(v.post("/v1/sys/policies/acl/root", {{"policy", kSidecarPolicy.dump()}}).error() ==
             "cannot update \"root\" policy");
  BOOST_TEST(v.del("/v1/sys/policies/acl/default").error() == "cannot delete \"default\" policy");
  BOOST_TEST(v.post("/v1/sys/policies/acl/bad", {{"policy", "path"}}).status == 400);
  BOOST_TEST(v.del("/v1/sys/policies/acl/sidecar").status == 204);
  BOOST_TEST(v.get("/v1/sys/policies/acl/sidecar").status == 404);
  BOOST_TEST(v.post("/v1/sys/policy/legacy", {{"rules", kSidecarPolicy.dump()}}).status == 204);
  BOOST_TEST(v.get("/v1/sys/policy/legacy").body["data"]["rules"] == kSidecarPolicy.dump());
}

BOOST_AUTO_TEST_CASE(sudo_is_required_on_root_protected_paths) {
  Vault v;
  v.put_policy("mounts", rule("sys/auth/*", {"create", "update"}));
  std::string token = v.post("/v1/auth/token/create", {{"policies", {"mounts"}}}).body["auth"]["client_token"];
  BOOST_TEST(v.post("/v1/sys/auth/more", {{"type", "approle"}}, token).status == 403);
  v.put_policy("mounts", rule("sys/auth/*", {"create", "update", "sudo"}));
  BOOST_TEST(v.post("/v1/sys/auth/more", {{"type", "approle"}}, token).status == 204);
}

BOOST_AUTO_TEST_CASE(capabilities_self_reports_what_the_token_may_do) {
  Vault v;
  v.put_policy("sidecar", kSidecarPolicy);
  std::string token = v.post("/v1/auth/token/create", {{"policies", {"sidecar"}}}).body["auth"]["client_token"];
  auto r = v.post("/v1/sys/capabilities-self", {{"paths", {"auth/approle/role/agent-1", "sys/mounts"}}}, token);
  BOOST_TEST(r.status == 200);
  BOOST_TEST(r.body["data"]["auth/approle/role/agent-1"] == json({"read", "update"}));
  BOOST_TEST(r.body["data"]["sys/mounts"] == json({"deny"}));
  auto one = v.post("/v1/sys/capabilities", {{"token", token}, {"path", "auth/token/renew-self"}});
  BOOST_TEST(one.body["data"]["capabilities"] == json({"update"}));
}

BOOST_AUTO_TEST_SUITE_END()
