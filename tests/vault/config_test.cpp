// VAULT_* environment over VaultConfig, read through an injected getter; addresses,
// durations and booleans as Vault's Go client parses them.
#include <boost/test/unit_test.hpp>

#include <map>

#include "vault/config.h"

namespace ps::vault {
namespace {

using ms = std::chrono::milliseconds;

EnvGetter env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

std::string apply_error(std::map<std::string, std::string> vars) {
  VaultConfig c;
  auto r = apply_vault_environment(c, env(std::move(vars)));
  return r.ok() ? std::string() : r.error().message;
}

BOOST_AUTO_TEST_SUITE(vault_config_environment)

BOOST_AUTO_TEST_CASE(no_variables_keep_the_defaults) {
  VaultConfig c;
  BOOST_REQUIRE(apply_vault_environment(c, env({})).ok());
  BOOST_TEST(c.address == "https://127.0.0.1:8200");
  BOOST_TEST(c.mount == "approle");
  BOOST_TEST(c.request_timeout.count() == 60000);
  BOOST_TEST(c.retry.max_attempts == 0u);
  BOOST_TEST(!c.tls.skip_verify);
}

BOOST_AUTO_TEST_CASE(every_standard_variable_is_applied) {
  VaultConfig c;
  c.auth.method = AuthMethod::approle;
  auto r = apply_vault_environment(
      c, env({{"VAULT_ADDR", "https://vault.example.com:8200"},
              {"VAULT_CACERT", "/etc/ca.pem"},
              {"VAULT_CAPATH", "/etc/ca.d"},
              {"VAULT_CLIENT_CERT", "/etc/c.pem"},
              {"VAULT_CLIENT_KEY", "/etc/c-key.pem"},
              {"VAULT_TLS_SERVER_NAME", "vault.internal"},
              {"VAULT_SKIP_VERIFY", "true"},
              {"VAULT_TOKEN", "hvs.tokenvalue\n"},
              {"VAULT_NAMESPACE", "team/a"},
              {"VAULT_MAX_RETRIES", "2"},
              {"VAULT_CLIENT_TIMEOUT", "1m30s"}}));
  BOOST_REQUIRE_MESSAGE(r.ok(), (r.ok() ? std::string() : r.error().message));
  BOOST_TEST(c.address == "https://vault.example.com:8200");
  BOOST_TEST(c.tls.ca_file == "/etc/ca.pem");
  BOOST_TEST(c.tls.ca_dir == "/etc/ca.d");
  BOOST_TEST(c.tls.cert_file == "/etc/c.pem");
  BOOST_TEST(c.tls.key_file == "/etc/c-key.pem");
  BOOST_TEST(c.tls.server_name == "vault.internal");
  BOOST_TEST(c.tls.skip_verify);
  BOOST_TEST(c.auth.token.reveal() == "hvs.tokenvalue");
  BOOST_TEST(to_string(c.auth.method) == "token");  // VAULT_TOKEN overrides the config
  BOOST_TEST(c.vault_namespace == "team/a");
  BOOST_TEST(c.retry.max_attempts == 3u);
  BOOST_TEST(c.request_timeout.count() == 90000);
}

BOOST_AUTO_TEST_CASE(empty_values_count_as_unset) {
  VaultConfig c;
  BOOST_REQUIRE(apply_vault_environment(
                    c, env({{"VAULT_ADDR", ""}, {"VAULT_TOKEN", ""}, {"VAULT_SKIP_VERIFY", ""}}))
                    .ok());
  BOOST_TEST(c.address == "https://127.0.0.1:8200");
  BOOST_TEST(c.auth.token.empty());
}

BOOST_AUTO_TEST_CASE(agent_address_wins_over_vault_addr) {
  VaultConfig c;
  BOOST_REQUIRE(apply_vault_environment(c, env({{"VAULT_ADDR", "https://a:1"},
                                                {"VAULT_AGENT_ADDR", "https://b:2"}}))
                    .ok());
  BOOST_TEST(c.address == "https://b:2");
}

BOOST_AUTO_TEST_CASE(errors_name_the_variable) {
  BOOST_TEST(apply_error({{"VAULT_CLIENT_CERT", "/c.pem"}}).find("VAULT_CLIENT_KEY") == 0u);
  BOOST_TEST(apply_error({{"VAULT_CLIENT_KEY", "/k.pem"}}).find("VAULT_CLIENT_CERT") == 0u);
  BOOST_TEST(apply_error({{"VAULT_SKIP_VERIFY", "yes"}}).find("VAULT_SKIP_VERIFY") == 0u);
  BOOST_TEST(apply_error({{"VAULT_MAX_RETRIES", "-1"}}).find("VAULT_MAX_RETRIES") == 0u);
  BOOST_TEST(apply_error({{"VAULT_MAX_RETRIES", "two"}}).find("VAULT_MAX_RETRIES") == 0u);
  BOOST_TEST(apply_error({{"VAULT_CLIENT_TIMEOUT", "soon"}}).find("VAULT_CLIENT_TIMEOUT") == 0u);
  BOOST_TEST(apply_error({{"VAULT_CLIENT_TIMEOUT", "0"}}).find("VAULT_CLIENT_TIMEOUT") == 0u);
  BOOST_TEST(apply_error({{"VAULT_ADDR", "vault:8200"}}).find("VAULT_ADDR") == 0u);
  BOOST_TEST(apply_error({{"VAULT_NAMESPACE", "a b"}}).find("VAULT_NAMESPACE") == 0u);
}

BOOST_AUTO_TEST_CASE(a_bad_token_is_refused_without_showing_it) {
  std::string message = apply_error({{"VAULT_TOKEN", "hvs.sec ret"}});
  BOOST_TEST(message.find("VAULT_TOKEN") == 0u);
  BOOST_TEST(message.find("sec") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(plaintext_is_refused_unless_explicitly_allowed_for_loopback) {
  BOOST_TEST(apply_error({{"VAULT_ADDR", "http://127.0.0.1:8200"}}).find("only https") !=
             std::string::npos);
  VaultConfig c;
  c.allow_plaintext_loopback = true;
  BOOST_TEST(apply_vault_environment(c, env({{"VAULT_ADDR", "http://127.0.0.1:8100"}})).ok());
  auto remote = parse_address("http://vault.example.com:8200", true);
  BOOST_REQUIRE(!remote.ok());
  BOOST_TEST(remote.error().message.find("loopback") != std::string::npos);
  BOOST_TEST(parse_address("http://localhost:8100", true).ok());
  BOOST_TEST(parse_address("http://[::1]:8100", true).ok());
  BOOST_TEST(!parse_address("http://127.0.0.1.evil.com:80", true).ok());
}

BOOST_AUTO_TEST_CASE(addresses_parse_like_urls) {
  auto a = parse_address("https://127.0.0.1:8200", false);
  BOOST_REQUIRE(a.ok());
  BOOST_TEST(a->tls);
  BOOST_TEST(a->host == "127.0.0.1");
  BOOST_TEST(a->port == 8200);
  BOOST_TEST(parse_address("https://vault.example.com", false)->port == 443);
  BOOST_TEST(parse_address("HTTPS://vault.example.com/", false)->port == 443);
  auto v6 = parse_address("https://[::1]:8443", false);
  BOOST_REQUIRE(v6.ok());
  BOOST_TEST(v6->host == "::1");
  BOOST_TEST(v6->port == 8443);
  for (std::string bad : {"", "127.0.0.1:8200", "https://", "https://:8200", "https://h:0",
                          "https://h:65536", "https://h:80x", "https://h/v1", "https://u@h",
                          "https://h?x=1", "unix:///tmp/agent.sock", "ftp://h", "https://[::1",
                          "https://h:", "https://a b"}) {
    BOOST_TEST_CONTEXT(bad) { BOOST_TEST(!parse_address(bad, false).ok()); }
  }
}

BOOST_AUTO_TEST_CASE(go_booleans) {
  for (std::string t : {"1", "t", "T", "TRUE", "true", "True"}) BOOST_TEST(*parse_go_bool(t));
  for (std::string f : {"0", "f", "F", "FALSE", "false", "False"}) BOOST_TEST(!*parse_go_bool(f));
  for (std::string bad : {"", "yes", "on", "tRUE", "2"}) BOOST_TEST(!parse_go_bool(bad));
}

BOOST_AUTO_TEST_CASE(durations_in_seconds_or_go_syntax) {
  BOOST_TEST(parse_duration_seconds("30")->count() == 30000);
  BOOST_TEST(parse_duration_seconds("30s")->count() == 30000);
  BOOST_TEST(parse_duration_seconds("1m")->count() == 60000);
  BOOST_TEST(parse_duration_seconds("1h2m3.5s")->count() == 3723500);
  BOOST_TEST(parse_duration_seconds("250ms")->count() == 250);
  BOOST_TEST(parse_duration_seconds("1.5h")->count() == 5400000);
  BOOST_TEST(parse_duration_seconds("1500us")->count() == 1);
  BOOST_TEST(parse_duration_seconds("0")->count() == 0);
  for (std::string bad : {"", "-5s", "s", "1x", "1.2.3s", "1 s", "99999999999999999"}) {
    BOOST_TEST_CONTEXT(bad) { BOOST_TEST(!parse_duration_seconds(bad).has_value()); }
  }
}

BOOST_AUTO_TEST_CASE(validate_checks_the_whole_configuration) {
  VaultConfig c;
  c.auth.token = Secret("hvs.x");
  BOOST_TEST(validate(c).ok());
  auto fails_with = [](VaultConfig cfg, const std::string& key) {
    auto r = validate(cfg);
    BOOST_TEST_CONTEXT(key) {
      BOOST_REQUIRE(!r.ok());
      BOOST_TEST(r.error().message.find(key) == 0u);
    }
  };
  VaultConfig bad = c;
  bad.address = "http://10.0.0.1:8200";
  fails_with(bad, "vault.address");
  bad = c;
  bad.mount = "../sys";
  fails_with(bad, "vault.mount");
  bad = c;
  bad.tls.cert_file = "/c.pem";
  fails_with(bad, "vault.tls");
  bad = c;
  bad.request_timeout = ms{0};
  fails_with(bad, "vault.request_timeout");
  bad = c;
  bad.retry.multiplier = 0;
  fails_with(bad, "vault.retry");
  bad = c;
  bad.auth.token = Secret();
  fails_with(bad, "vault.auth");
  bad = c;
  bad.auth.method = AuthMethod::approle;
  fails_with(bad, "vault.auth.role_id_file");
  bad.auth.role_id_file = "/r";
  fails_with(bad, "vault.auth.secret_id_file");
  bad = c;
  bad.auth.method = AuthMethod::token_file;
  fails_with(bad, "vault.auth.token_file");
  bad = c;
  bad.auth.renew_fraction = 1.5;
  fails_with(bad, "vault.auth.renew_fraction");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace ps::vault
