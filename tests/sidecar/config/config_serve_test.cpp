// The daemon's configuration sections: defaults, every key read, wrong types and unknown keys
// refused with the key path, serve-only checks (TLS files, plain HTTP only on loopback).
#include <boost/test/unit_test.hpp>

#include "sidecar/config/config.h"

using namespace ps::sidecar;

namespace {

std::string error_of(const std::string& text) {
  auto c = parse_config(text, "test.json");
  BOOST_TEST(!c.ok());
  return c.status().message();
}

Config parsed(const std::string& text) {
  auto c = parse_config(text, "test.json");
  BOOST_REQUIRE_MESSAGE(c.ok(), c.status().message());
  return std::move(c).value();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(config_serve)

BOOST_AUTO_TEST_CASE(defaults_match_the_documented_ones) {
  const Config c = parsed("{}");
  BOOST_TEST(c.listener.address == "127.0.0.1:8443");
  BOOST_TEST(!c.listener.tls_disable);
  BOOST_TEST(c.listener.max_request_bytes == 65536);
  BOOST_TEST(c.listener.read_timeout_s == 10);
  BOOST_TEST(c.listener.idle_timeout_s == 30);
  BOOST_TEST(c.webhook.tolerance_s == 300);
  BOOST_TEST(c.webhook.secrets_file.empty());
  BOOST_TEST(c.api.token_file.empty());
  BOOST_TEST((c.log.level == ps::LogLevel::info));
  BOOST_TEST((c.log.format == LogFormat::json));
  BOOST_TEST(c.audit.path.empty());
  BOOST_TEST(c.evaluate.interval_s == 60);
  BOOST_TEST(!c.evaluate.auto_promote);
  BOOST_TEST(c.health.outbox_stuck_s == 600);
  BOOST_TEST(c.shutdown.grace_s == 10);
}

BOOST_AUTO_TEST_CASE(every_key_is_read) {
  const Config c = parsed(R"({
    "listener": {"address": "[::1]:0", "tls_cert": "c.pem", "tls_key": "k.pem",
                 "tls_client_ca": "ca.pem", "tls_disable": false, "max_request_bytes": 4096,
                 "read_timeout_s": 2.5, "idle_timeout_s": 5},
    "webhook": {"secrets_file": "/s", "tolerance_s": 60, "reviewers": ["r1", "r2"], "admins": ["a"]},
    "api": {"token_file": "/t"},
    "log": {"level": "debug", "format": "text"},
    "audit": {"path": "/var/log/a.jsonl"},
    "evaluate": {"interval_s": 0, "auto_promote": true},
    "health": {"outbox_stuck_s": 30},
    "shutdown": {"grace_s": 2}
  })");
  BOOST_TEST(c.listener.address == "[::1]:0");
  BOOST_TEST(c.listener.tls_client_ca == "ca.pem");
  BOOST_TEST(c.listener.max_request_bytes == 4096);
  BOOST_TEST(c.listener.read_timeout_s == 2.5);
  BOOST_TEST(c.webhook.reviewers.size() == 2u);
  BOOST_TEST(c.webhook.admins[0] == "a");
  BOOST_TEST(c.api.token_file == "/t");
  BOOST_TEST((c.log.level == ps::LogLevel::debug));
  BOOST_TEST((c.log.format == LogFormat::text));
  BOOST_TEST(c.audit.path == "/var/log/a.jsonl");
  BOOST_TEST(c.evaluate.interval_s == 0);
  BOOST_TEST(c.evaluate.auto_promote);
  BOOST_TEST(c.health.outbox_stuck_s == 30);
  BOOST_TEST(c.shutdown.grace_s == 2);
}

BOOST_AUTO_TEST_CASE(wrong_types_and_unknown_keys_name_the_key_path) {
  BOOST_TEST(error_of(R"({"listener": {"adress": "x"}})").find("config: listener.adress: unknown key (known: address,") == 0u);
  BOOST_TEST(error_of(R"({"listener": {"max_request_bytes": "64k"}})") ==
             "config: listener.max_request_bytes: must be an integer from 1024 to 67108864 (bytes)");
  BOOST_TEST(error_of(R"({"listener": {"tls_disable": "yes"}})") == "config: listener.tls_disable: must be true or false");
  BOOST_TEST(error_of(R"({"listener": {"address": "localhost"}})").find("config: listener.address: must be host:port") == 0u);
  BOOST_TEST(error_of(R"({"listener": {"address": "1.2.3.4:70000"}})").find("config: listener.address:") == 0u);
  BOOST_TEST(error_of(R"({"listener": {"read_timeout_s": -1}})").find("config: listener.read_timeout_s: must be a number of seconds") == 0u);
  BOOST_TEST(error_of(R"({"webhook": {"tolerance_s": 1.5}})").find("config: webhook.tolerance_s: must be an integer") == 0u);
  BOOST_TEST(error_of(R"({"webhook": {"reviewers": "alice"}})") == "config: webhook.reviewers: must be a list of non-empty strings");
  BOOST_TEST(error_of(R"({"webhook": {"admins": ["ok", 3]}})") == "config: webhook.admins: must be a list of non-empty strings");
  BOOST_TEST(error_of(R"({"api": {"token": "s3cret"}})").find("config: api.token: unknown key") == 0u);
  BOOST_TEST(error_of(R"({"api": {"token_file": 7}})") == "config: api.token_file: must be a string");
  BOOST_TEST(error_of(R"({"log": {"level": "verbose"}})") == "config: log.level: must be one of debug, info, warn, error");
  BOOST_TEST(error_of(R"({"log": {"format": "xml"}})") == "config: log.format: must be json or text");
  BOOST_TEST(error_of(R"({"audit": []})") == "config: audit: must be an object");
  BOOST_TEST(error_of(R"({"evaluate": {"auto_promote": 1}})") == "config: evaluate.auto_promote: must be true or false");
  BOOST_TEST(error_of(R"({"health": {"outbox_stuck_s": 0}})").find("config: health.outbox_stuck_s:") == 0u);
  BOOST_TEST(error_of(R"({"shutdown": {"grace_s": "10s"}})").find("config: shutdown.grace_s:") == 0u);
}

BOOST_AUTO_TEST_CASE(listener_limits_have_documented_defaults_and_are_checked_with_key_paths) {
  const Config d = parsed("{}");
  BOOST_TEST(d.listener.head_timeout_s == 10);
  BOOST_TEST(d.listener.request_timeout_s == 30);
  BOOST_TEST(d.listener.max_header_bytes == 16384);
  BOOST_TEST(d.listener.max_headers == 64);
  BOOST_TEST(d.listener.max_connections == 512);
  BOOST_TEST(d.listener.max_connections_per_peer == 64);
  const Config c = parsed(R"({"listener": {"head_timeout_s": 2, "request_timeout_s": 4.5,
    "max_header_bytes": 4096, "max_headers": 20, "max_connections": 100, "max_connections_per_peer": 10}})");
  BOOST_TEST(c.listener.head_timeout_s == 2);
  BOOST_TEST(c.listener.request_timeout_s == 4.5);
  BOOST_TEST(c.listener.max_header_bytes == 4096);
  BOOST_TEST(c.listener.max_headers == 20);
  BOOST_TEST(c.listener.max_connections == 100);
  BOOST_TEST(c.listener.max_connections_per_peer == 10);
  BOOST_TEST(error_of(R"({"listener": {"max_header_bytes": 100}})").find("config: listener.max_header_bytes: must be an integer from 1024") == 0u);
  BOOST_TEST(error_of(R"({"listener": {"max_headers": 0}})").find("config: listener.max_headers:") == 0u);
  BOOST_TEST(error_of(R"({"listener": {"max_connections": 0}})").find("config: listener.max_connections:") == 0u);
  BOOST_TEST(error_of(R"({"listener": {"max_connections_per_peer": "many"}})").find("config: listener.max_connections_per_peer:") == 0u);
  BOOST_TEST(error_of(R"({"listener": {"head_timeout_s": 0}})").find("config: listener.head_timeout_s:") == 0u);
  BOOST_TEST(error_of(R"({"listener": {"request_timeout_s": -3}})").find("config: listener.request_timeout_s:") == 0u);
  const std::string tls = R"("tls_cert": "c", "tls_key": "k")";
  BOOST_TEST(validate_serve_config(parsed(R"({"listener": {)" + tls + R"(, "head_timeout_s": 40}})")).message().find(
                 "config: listener.head_timeout_s: must not exceed listener.request_timeout_s") == 0u);
  BOOST_TEST(validate_serve_config(parsed(R"({"listener": {)" + tls + R"(, "max_connections": 10}})")).message().find(
                 "config: listener.max_connections_per_peer: must not exceed listener.max_connections") == 0u);
}

BOOST_AUTO_TEST_CASE(ledger_journal_mode_is_keep_unless_wal_is_asked_for) {
  BOOST_TEST(parsed("{}").ledger.journal_mode == "keep");
  BOOST_TEST(parsed(R"({"ledger": {"journal_mode": "wal"}})").ledger.journal_mode == "wal");
  BOOST_TEST(error_of(R"({"ledger": {"journal_mode": "WAL2"}})") ==
             "config: ledger.journal_mode: must be \"keep\" or \"wal\"");
}

BOOST_AUTO_TEST_CASE(serve_requires_tls_files_unless_plain_http_on_loopback) {
  BOOST_TEST(validate_serve_config(parsed("{}")).message().find("config: listener.tls_cert: required") == 0u);
  BOOST_TEST(validate_serve_config(parsed(R"({"listener": {"tls_cert": "c"}})")).message().find("config: listener.tls_key: required") == 0u);
  BOOST_TEST(validate_serve_config(parsed(R"({"listener": {"tls_cert": "c", "tls_key": "k"}})")).ok());
  for (const char* loopback : {"127.0.0.1:0", "127.8.9.10:80", "[::1]:8200", "localhost:1"}) {
    const Config c = parsed(std::string(R"({"listener": {"tls_disable": true, "address": ")") + loopback + "\"}}");
    BOOST_TEST(validate_serve_config(c).ok(), loopback);
  }
  for (const char* remote : {"0.0.0.0:8443", "10.0.0.5:8443", "[::]:8443", "vault.example.com:8443"}) {
    const Config c = parsed(std::string(R"({"listener": {"tls_disable": true, "address": ")") + remote + "\"}}");
    BOOST_TEST(validate_serve_config(c).message().find("config: listener.tls_disable: plain HTTP is allowed only on a loopback address") == 0u, remote);
  }
}

BOOST_AUTO_TEST_SUITE_END()
