// Role names and mount paths: Vault's rule, lowercasing, and a hostile corpus that must
// never produce a path outside auth/<mount>/role/<role>.
#include <boost/test/unit_test.hpp>

#include <random>

#include "tests/vault/test_support.h"
#include "vault/names.h"

namespace ps::vault {
namespace {

RoleNamer default_namer() {
  auto namer = RoleNamer::create(RoleNamer::kDefaultTemplate, "approle");
  BOOST_REQUIRE(namer.ok());
  return namer.value();
}

BOOST_AUTO_TEST_SUITE(vault_role_names)

BOOST_AUTO_TEST_CASE(default_template_prefixes_and_lowercases) {
  auto namer = default_namer();
  BOOST_TEST(namer.role_for("7")->str() == "agent-7");
  BOOST_TEST(namer.role_for("Build-Bot_01")->str() == "agent-build-bot_01");
  BOOST_TEST(namer.role_for("a.b.c")->str() == "agent-a.b.c");
  BOOST_TEST(namer.role_path(*namer.role_for("X")) == "auth/approle/role/agent-x");
}

BOOST_AUTO_TEST_CASE(ids_differing_only_in_case_map_to_one_role) {
  auto namer = default_namer();
  BOOST_TEST(namer.role_for("Agent7")->str() == namer.role_for("aGENT7")->str());
}

BOOST_AUTO_TEST_CASE(role_name_rule_matches_vault) {
  for (std::string ok : {"a", "A", "_", "9", "ab", "a-b", "a.b", "a..b", "a-.-b", "x_y_z"}) {
    BOOST_TEST_CONTEXT(ok) { BOOST_TEST(RoleName::parse(ok).ok()); }
  }
  for (std::string bad : {"", "-a", "a-", ".a", "a.", "-", ".", "..", "a/b", "a b", "a%2Fb",
                          "a?b", "a#b", "a\nb", "\xc3\xa9t\xc3\xa9", "a:b", "a+b", "a*"}) {
    BOOST_TEST_CONTEXT(bad) {
      auto r = RoleName::parse(bad);
      BOOST_TEST(!r.ok());
      if (!r.ok()) BOOST_TEST(to_string(r.error().code) == "invalid_argument");
    }
  }
  BOOST_TEST(RoleName::parse("MiXeD")->str() == "mixed");
}

BOOST_AUTO_TEST_CASE(role_names_are_limited_to_4096_bytes) {
  BOOST_TEST(RoleName::parse(std::string(4096, 'a')).ok());
  BOOST_TEST(!RoleName::parse(std::string(4097, 'a')).ok());
  auto namer = default_namer();
  BOOST_TEST(namer.role_for(std::string(4090, 'a')).ok());   // 6 + 4090 = 4096
  BOOST_TEST(!namer.role_for(std::string(4091, 'a')).ok());
  BOOST_TEST(!namer.role_for(std::string(5000, 'a')).ok());
}

BOOST_AUTO_TEST_CASE(hostile_ids_are_refused_with_a_safe_message) {
  auto namer = default_namer();
  const std::vector<std::string> hostile = {
      "", "../x", "..", ".", "x/../../sys/seal", "%2F", "a%2Fb", "x?list=true", "x#frag",
      "a b", " ", "x\r\nX-Vault-Token: evil", std::string("a\0b", 3), "\x7f", "a\tb",
      "\xc3\xa9", "\xff\xfe", "x/", "/x", "x\\y", "x;y", "x&y", "x=y", "x*", "+", "x:y",
      "-", "x-", "x.", std::string(5000, 'x') + "/"};
  for (const auto& id : hostile) {
    auto r = namer.role_for(id);
    BOOST_TEST(!r.ok());
    if (r.ok()) continue;
    BOOST_TEST(to_string(r.error().code) == "invalid_argument");
    BOOST_TEST(to_string(r.error().action) == "give_up");
    for (unsigned char c : r.error().message) {
      BOOST_TEST((c >= 0x20 && c < 0x7f));  // no control bytes or raw non-ASCII in logs
    }
    BOOST_TEST(r.error().message.size() < 400u);
  }
}

BOOST_AUTO_TEST_CASE(thousands_of_random_ids_never_leave_the_role_path) {
  auto namer = default_namer();
  std::mt19937_64 rng(20240601);
  const std::string alphabet =
      std::string("abcXYZ019_-./%?#&=+:;\\ \t\r\n\x01\x7f") + std::string("\0", 1) +
      "\xc3\xa9\xff";
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    std::size_t len = rng() % (i % 100 == 0 ? 5000 : 24);
    std::string id;
    for (std::size_t k = 0; k < len; ++k) id += alphabet[rng() % alphabet.size()];
    auto role = namer.role_for(id);
    if (!role) continue;
    ++accepted;
    const std::string& name = role->str();
    BOOST_REQUIRE_MESSAGE(testing::matches_vault_role_rule(name), preview(name));
    BOOST_REQUIRE(name == [&] {
      std::string lower = name;
      for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      return lower;
    }());
    BOOST_REQUIRE(name.size() <= RoleName::kMaxBytes);
    BOOST_REQUIRE(name.find('/') == std::string::npos);
    const std::string path = "/v1/auth/approle/role/" + name + "/policies";
    // Exactly the expected segments; none is "." or "..".
    std::vector<std::string> segments;
    std::size_t start = 1;
    while (true) {
      auto slash = path.find('/', start);
      segments.push_back(path.substr(start, slash - start));
      if (slash == std::string::npos) break;
      start = slash + 1;
    }
    BOOST_REQUIRE(segments.size() == 6u);
    BOOST_REQUIRE(segments[4] == name);
    for (const auto& s : segments) BOOST_REQUIRE(s != "." && s != "..");
    BOOST_REQUIRE(namer.agent_id_for(*role).has_value());
  }
  BOOST_TEST(accepted > 100);  // the corpus also exercises the accepting side
}

BOOST_AUTO_TEST_CASE(agent_id_is_recovered_from_a_role_of_the_template) {
  auto namer = RoleNamer::create("sidecar-{agent_id}-role", "approle");
  BOOST_REQUIRE(namer.ok());
  auto role = namer->role_for("Bot7");
  BOOST_TEST(role->str() == "sidecar-bot7-role");
  BOOST_TEST(*namer->agent_id_for(*role) == "bot7");
  BOOST_TEST(!namer->agent_id_for(*RoleName::parse("other-role")).has_value());
  BOOST_TEST(!namer->agent_id_for(*RoleName::parse("sidecar--role")).has_value());
}

BOOST_AUTO_TEST_CASE(bad_templates_are_refused) {
  for (std::string t : {"agent", "{agent_id}-{agent_id}", "agent/{agent_id}", "-{agent_id}",
                        "{agent_id}.", "agent {agent_id}", "{agent}", "a{agent_id}%"}) {
    BOOST_TEST_CONTEXT(t) { BOOST_TEST(!RoleNamer::create(t, "approle").ok()); }
  }
  BOOST_TEST(RoleNamer::create("{agent_id}", "approle").ok());
}

BOOST_AUTO_TEST_CASE(mount_paths_are_validated) {
  BOOST_TEST(MountPath::parse("approle")->str() == "approle");
  BOOST_TEST(MountPath::parse("approle/")->str() == "approle");
  BOOST_TEST(MountPath::parse("agents/approle")->str() == "agents/approle");
  for (std::string bad : {"", "/", "/approle", "app role", "..", "a/../b", "a//b", "a?b",
                          "a%2f", "a#", "x\n", "\xc3\xa9"}) {
    BOOST_TEST_CONTEXT(bad) { BOOST_TEST(!MountPath::parse(bad).ok()); }
  }
  BOOST_TEST(!RoleNamer::create(RoleNamer::kDefaultTemplate, "../sys").ok());
}

BOOST_AUTO_TEST_CASE(header_values_and_namespaces) {
  BOOST_TEST(is_header_safe("hvs.CAESIabc"));
  BOOST_TEST(!is_header_safe(""));
  BOOST_TEST(!is_header_safe("a b"));
  BOOST_TEST(!is_header_safe("a\r\nX: y"));
  BOOST_TEST(!is_header_safe("\xc3\xa9"));
  BOOST_TEST(is_valid_namespace(""));
  BOOST_TEST(is_valid_namespace("ns1/ns2/"));
  BOOST_TEST(!is_valid_namespace("ns1//ns2"));
  BOOST_TEST(!is_valid_namespace("ns\n"));
  BOOST_TEST(!is_valid_namespace("../root"));
}

BOOST_AUTO_TEST_CASE(preview_escapes_and_truncates) {
  BOOST_TEST(preview("ab\ncd") == "ab\\x0acd");
  BOOST_TEST(preview(std::string(100, 'x')).size() <= 51u);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace ps::vault
