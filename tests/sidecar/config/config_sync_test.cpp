// The sync-related configuration: the sync and reconcile sections with their defaults and
// errors naming the key path, the Vault settings from config + VAULT_*, and the refusal of
// secret files that others can read.
#include <sys/stat.h>

#include <boost/test/unit_test.hpp>
#include <fstream>
#include <map>
#include <optional>

#include "sidecar/config/config.h"
#include "sidecar/config/vault_setup.h"
#include "tests/support/test_support.h"

using namespace ps;
using namespace ps::sidecar;
using PL = std::vector<std::string>;
using std::chrono::milliseconds;

namespace {

std::string config_error(const std::string& text) {
  auto c = parse_config(text, "test.json");
  BOOST_REQUIRE(!c.ok());
  return c.status().message();
}

vault::EnvGetter env(std::map<std::string, std::string> vars) {
  return [vars](const char* name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

}  // namespace

BOOST_AUTO_TEST_SUITE(sync_config)

BOOST_AUTO_TEST_CASE(sections_parse_with_their_defaults) {
  auto c = parse_config(R"({
    "vault": {"address": "https://vault.internal:8200", "ca_cert": "/etc/ca.pem",
              "timeout_s": 5, "max_retries": 4, "retry": {"initial_ms": 250},
              "auth": {"method": "approle", "role_id_file": "/r", "secret_id_file": "/s"}},
    "roles": {"name_template": "ai-{agent_id}", "exclusive": true, "missing_role": "create",
              "tier_policies": {"0": [], "1": ["a"], "2": ["b"], "3": ["c"], "4": ["d", "e"]}},
    "sync": {"batch_size": 50, "rate_limit_per_s": 0, "backoff": {"max_ms": 60000}},
    "reconcile": {"drift_mode": "correct", "interval_s": 60, "concurrency": 8}
  })", "t");
  BOOST_REQUIRE_MESSAGE(c.ok(), c.status().message());
  BOOST_TEST(c->vault.address == "https://vault.internal:8200");
  BOOST_TEST(c->vault.request_timeout.count() == 5000);
  BOOST_TEST(c->vault.retry.max_attempts == 5u);
  BOOST_TEST(c->vault.retry.initial.count() == 250);
  BOOST_TEST((c->vault.auth.method == vault::AuthMethod::approle));
  BOOST_TEST(c->roles.exclusive);
  BOOST_TEST((c->roles.missing_role == MissingRole::create));
  BOOST_TEST(c->roles.tier_policies.at(4) == (PL{"d", "e"}), boost::test_tools::per_element());
  BOOST_TEST(c->sync.batch_size == 50);
  BOOST_TEST(c->sync.backoff_max.count() == 60000);
  BOOST_TEST(c->sync.backoff_initial.count() == 1000);
  BOOST_TEST((c->reconcile.drift_mode == DriftMode::correct));
  BOOST_TEST(c->reconcile.page_size == 500);
}

BOOST_AUTO_TEST_CASE(defaults_without_the_sections) {
  auto c = parse_config("{}", "t");
  BOOST_REQUIRE(c.ok());
  BOOST_TEST(c->vault.address == "https://127.0.0.1:8200");
  BOOST_TEST(c->vault.retry.max_attempts == 3u);
  BOOST_TEST(c->vault.auth.require_private_files);
  BOOST_TEST(c->sync.rate_limit_per_s == 500);
  BOOST_TEST((c->reconcile.drift_mode == DriftMode::detect));
  BOOST_TEST((c->roles.missing_role == MissingRole::report));
}

BOOST_AUTO_TEST_CASE(unknown_keys_and_wrong_types_name_the_key_path) {
  BOOST_TEST(config_error(R"({"vault": {"adress": "x"}})").find("vault.adress: unknown key") !=
             std::string::npos);
  BOOST_TEST(config_error(R"({"sync": {"backoff": {"initial_ms": "1"}}})")
                 .find("sync.backoff.initial_ms: must be an integer") != std::string::npos);
  BOOST_TEST(config_error(R"({"reconcile": {"drift_mode": "fix"}})")
                 .find("reconcile.drift_mode: must be ignore, detect or correct") !=
             std::string::npos);
  BOOST_TEST(config_error(R"({"roles": {"tier_policies": {"5": []}}})")
                 .find("roles.tier_policies.\"5\"") != std::string::npos);
  BOOST_TEST(config_error(R"({"roles": {"tier_policies": {"1": [7]}}})")
                 .find("roles.tier_policies.\"1\"[0]: must be a string") != std::string::npos);
  BOOST_TEST(config_error(R"({"vault": {"auth": {"token": "hvs.x"}}})")
                 .find("a token never goes into the config file") != std::string::npos);
  BOOST_TEST(config_error(R"({"vault": {"auth": {"token": "hvs.x"}}})").find("hvs.x") ==
             std::string::npos);
  BOOST_TEST(config_error(R"({"sync": {"backoff": {"initial_ms": 5000, "max_ms": 10}}})")
                 .find("sync.backoff") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(vault_environment_overrides_the_file) {
  auto c = parse_config(R"({"vault": {"address": "https://file:8200", "timeout_s": 9}})", "t");
  BOOST_REQUIRE(c.ok());
  auto eff = effective_vault_config(
      c->vault, env({{"VAULT_ADDR", "https://env:8200"}, {"VAULT_TOKEN", "s.secret-token"}}));
  BOOST_REQUIRE_MESSAGE(eff.ok(), eff.status().message());
  BOOST_TEST(eff->address == "https://env:8200");
  BOOST_TEST(eff->request_timeout.count() == 9000);
  BOOST_TEST((eff->auth.method == vault::AuthMethod::token));
  auto bad = effective_vault_config(c->vault, env({{"VAULT_ADDR", "ftp://x"}}));
  BOOST_TEST(!bad.ok());
  BOOST_TEST(bad.status().message().rfind("vault: ", 0) == 0u);
}

BOOST_AUTO_TEST_CASE(secret_files_readable_by_others_are_refused) {
  ps::testing::TempDir dir;
  const std::string role_id = dir.file("role_id"), secret = dir.file("secret_id");
  std::ofstream(role_id) << "r";
  std::ofstream(secret) << "s3cr3t-value";
  ::chmod(role_id.c_str(), 0600);
  ::chmod(secret.c_str(), 0644);
  vault::VaultConfig v = default_vault_config();
  v.auth.method = vault::AuthMethod::approle;
  v.auth.role_id_file = role_id;
  v.auth.secret_id_file = secret;
  auto refused = effective_vault_config(v, env({}));
  BOOST_TEST(!refused.ok());
  BOOST_TEST(refused.status().message().find("vault.auth.secret_id_file") != std::string::npos);
  BOOST_TEST(refused.status().message().find("chmod 600") != std::string::npos);
  BOOST_TEST(refused.status().message().find("s3cr3t") == std::string::npos);
  ::chmod(secret.c_str(), 0600);
  BOOST_TEST(effective_vault_config(v, env({})).ok());
  v.auth.method = vault::AuthMethod::token_file;
  v.auth.token_file = dir.file("token");
  std::ofstream(v.auth.token_file) << "hvs.x";
  ::chmod(v.auth.token_file.c_str(), 0640);
  BOOST_TEST(!effective_vault_config(v, env({})).ok());
}

BOOST_AUTO_TEST_SUITE_END()

