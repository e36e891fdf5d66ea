// ServerTls over real handshakes on 127.0.0.1: loading checks, TLS 1.2 minimum, client
// certificates, and reload without restart (rotation reaches new connections, a broken file
// keeps the old material).
#include <atomic>
#include <thread>

#include <sys/stat.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>

#include "tests/tls/tls_test_support.h"

namespace ps::tls {
namespace {

using testing::DevSet;
using testing::LogCapture;
using testing::TestServer;

ClientConfig client_config(const DevSet& set, const std::string& client_stem = "") {
  ClientConfig c;
  c.ca_file = set("ca.pem");
  if (!client_stem.empty()) {
    c.cert_file = set(client_stem + ".pem");
    c.key_file = set(client_stem + "-key.pem");
  }
  return c;
}

std::shared_ptr<ClientTls> make_client(const ClientConfig& config) {
  auto tls = ClientTls::create(config, nullptr);
  BOOST_REQUIRE_MESSAGE(tls.ok(), tls.status().message());
  return *tls;
}

std::shared_ptr<ServerTls> make_server(const ServerConfig& config, LogCapture* logs = nullptr) {
  auto tls = ServerTls::create(config, logs ? logs->log() : nullptr);
  BOOST_REQUIRE_MESSAGE(tls.ok(), tls.status().message());
  return *tls;
}

// The serial of the certificate the server presents to a new connection.
std::string served_serial(int port) {
  auto hs = testing::raw_handshake(port);
  BOOST_REQUIRE_MESSAGE(hs.ok && hs.peer, hs.error);
  return testing::serial_hex(hs.peer.get());
}

BOOST_AUTO_TEST_SUITE(server_tls)

BOOST_AUTO_TEST_CASE(create_refuses_a_key_that_does_not_match_the_certificate) {
  DevSet set;
  ServerConfig c = set.server("server");
  c.key_file = set("client-key.pem");
  LogCapture logs;
  auto created = ServerTls::create(c, logs.log());
  BOOST_TEST(!created.ok());
  const std::string error = created.status().message();
  BOOST_TEST(error.find("does not match") != std::string::npos, error);
  BOOST_TEST(error.find(set("client-key.pem")) != std::string::npos, error);
  BOOST_TEST(logs.count(LogLevel::error, "does not match") == 1u);
}

BOOST_AUTO_TEST_CASE(create_refuses_missing_garbage_and_empty_files_naming_the_file) {
  DevSet set;
  testing::replace_file(set("garbage.pem"), "this is not PEM\n");
  testing::replace_file(set("secret-garbage-key.pem"),
                        "-----BEGIN PRIVATE KEY-----\nS3CR3TMATERIALS3CR3T\n-----END PRIVATE KEY-----\n",
                        true);
  struct Case {
    std::string name;
    ServerConfig config;
    std::string expect;
  } cases[] = {
      {"missing cert", {set("nope.pem"), set("server-key.pem"), ""}, set("nope.pem")},
      {"garbage cert", {set("garbage.pem"), set("server-key.pem"), ""}, set("garbage.pem")},
      {"garbage key",
       {set("server.pem"), set("secret-garbage-key.pem"), ""},
       set("secret-garbage-key.pem")},
      {"missing client CA", {set("server.pem"), set("server-key.pem"), set("nope-ca.pem")},
       set("nope-ca.pem")},
      {"garbage client CA", {set("server.pem"), set("server-key.pem"), set("garbage.pem")},
       set("garbage.pem")},
      {"no key", {set("server.pem"), "", ""}, "key"},
  };
  for (const Case& c : cases) {
    BOOST_TEST_CONTEXT(c.name) {
      LogCapture logs;
      auto created = ServerTls::create(c.config, logs.log());
      BOOST_TEST(!created.ok());
      const std::string error = created.status().message();
      BOOST_TEST(error.find(c.expect) != std::string::npos, error);
      BOOST_TEST(error.find("S3CR3T") == std::string::npos);
      BOOST_TEST(!logs.any_contains("S3CR3T"));
      BOOST_TEST(!logs.any_contains("-----BEGIN"));
    }
  }
}

BOOST_AUTO_TEST_CASE(serves_its_certificate_and_refuses_a_tls_1_1_client) {
  DevSet set;
  auto tls = make_server(set.server("server"));
  TestServer srv(tls);
  BOOST_TEST(served_serial(srv.port()) == testing::serial_hex_of_file(set("server.pem")));
  BOOST_TEST(testing::get_hello(*make_client(client_config(set)), srv.port()) == "hello");

  testing::RawClientOptions legacy;
  legacy.allow_legacy = true;  // the client side really offers TLS 1.1 ...
  legacy.max_version = TLS1_1_VERSION;
  BOOST_TEST(!testing::raw_handshake(srv.port(), legacy).ok);  // ... and the server says no
  testing::RawClientOptions tls12;
  tls12.max_version = TLS1_2_VERSION;
  BOOST_TEST(testing::raw_handshake(srv.port(), tls12).ok);

  // OpenSSL 3 refuses TLS 1.1 at its default security level anyway; lowered, only the
  // minimum version set by ServerTls stands in the way.
  SslCtxPtr ctx = tls->make_ssl_ctx();
  BOOST_REQUIRE(ctx);
  BOOST_TEST(SSL_CTX_get_min_proto_version(ctx.get()) == TLS1_2_VERSION);
  SSL_CTX_set_security_level(ctx.get(), 0);
  testing::RawHttpsServer raw(ctx.get());
  BOOST_TEST(!testing::raw_handshake(raw.port(), legacy).ok);
}

BOOST_AUTO_TEST_CASE(required_client_certificate_missing_or_from_another_ca_is_refused) {
  DevSet set;
  TestServer srv(make_server(set.server("server", "ca.pem")));
  BOOST_TEST(testing::get_hello(*make_client(client_config(set)), srv.port()).starts_with("error"));
  BOOST_TEST(testing::get_hello(*make_client(client_config(set, "other-client")), srv.port())
                 .starts_with("error"));
  BOOST_TEST(testing::get_hello(*make_client(client_config(set, "client")), srv.port()) == "hello");
}

BOOST_AUTO_TEST_CASE(reload_serves_a_rotated_certificate_to_new_connections) {
  DevSet set;
  testing::replace_with_copy(set("server.pem"), set("live.pem"));
  testing::replace_with_copy(set("server-key.pem"), set("live-key.pem"));
  LogCapture logs;
  auto tls = make_server(set.server("live"), &logs);
  TestServer srv(tls);
  auto trusts_dev = make_client(client_config(set));
  ClientConfig other_cfg;
  other_cfg.ca_file = set("other-ca.pem");
  auto trusts_other = make_client(other_cfg);
  BOOST_TEST(served_serial(srv.port()) == testing::serial_hex_of_file(set("server.pem")));
  BOOST_TEST(testing::get_hello(*trusts_other, srv.port()).starts_with("error"));

  testing::replace_with_copy(set("other-server.pem"), set("live.pem"));
  testing::replace_with_copy(set("other-server-key.pem"), set("live-key.pem"));
  BOOST_TEST(tls->files_changed());
  // Not reloaded yet: the old certificate is still what new connections get.
  BOOST_TEST(served_serial(srv.port()) == testing::serial_hex_of_file(set("server.pem")));

  Status reloaded = tls->reload();
  BOOST_TEST_REQUIRE(reloaded.ok(), reloaded.message());
  BOOST_TEST(!tls->files_changed());
  BOOST_TEST(served_serial(srv.port()) == testing::serial_hex_of_file(set("other-server.pem")));
  BOOST_TEST(testing::get_hello(*trusts_other, srv.port()) == "hello");
  BOOST_TEST(testing::get_hello(*trusts_dev, srv.port()).starts_with("error"));
  BOOST_TEST(logs.count(LogLevel::info, "reloaded") == 1u);
}

BOOST_AUTO_TEST_CASE(broken_new_files_keep_the_old_certificate_and_say_why) {
  DevSet set;
  testing::replace_with_copy(set("server.pem"), set("live.pem"));
  testing::replace_with_copy(set("server-key.pem"), set("live-key.pem"));
  LogCapture logs;
  auto tls = make_server(set.server("live"), &logs);
  TestServer srv(tls);
  const std::string original = testing::serial_hex_of_file(set("server.pem"));
  auto client = make_client(client_config(set));

  struct Step {
    std::string name;
    std::function<void()> breakage;
    std::string reason;
  } steps[] = {
      {"garbage certificate",
       [&] { testing::replace_file(set("live.pem"), "garbage\n"); }, "no PEM certificate"},
      {"truncated certificate",
       [&] {
         std::string pem = testing::read_text_file(set("other-server.pem"));
         testing::replace_file(set("live.pem"), pem.substr(0, pem.size() / 2));
       },
       "certificate"},
      {"key of another certificate",
       [&] { testing::replace_with_copy(set("other-server-key.pem"), set("live-key.pem")); },
       "does not match"},
      {"missing key", [&] { std::remove(set("live-key.pem").c_str()); }, "cannot open"},
  };
  for (const Step& step : steps) {
    BOOST_TEST_CONTEXT(step.name) {
      // Restore good files, break one thing, reload.
      testing::replace_with_copy(set("server.pem"), set("live.pem"));
      testing::replace_with_copy(set("server-key.pem"), set("live-key.pem"));
      step.breakage();
      BOOST_TEST(tls->files_changed());
      const std::size_t failures = logs.count(LogLevel::error, "reload failed");
      Status reloaded = tls->reload();
      BOOST_TEST(!reloaded.ok());
      const std::string error = reloaded.message();
      BOOST_TEST(error.find(step.reason) != std::string::npos, error);
      BOOST_TEST(logs.count(LogLevel::error, "reload failed") == failures + 1);
      BOOST_TEST(logs.messages().back().find(error) != std::string::npos);
      BOOST_TEST(served_serial(srv.port()) == original);
      BOOST_TEST(testing::get_hello(*client, srv.port()) == "hello");
      // Having looked at this broken version, a watcher is not asked to retry it forever.
      BOOST_TEST(!tls->files_changed());
    }
  }
  BOOST_TEST(!logs.any_contains("-----BEGIN"));
}

BOOST_AUTO_TEST_CASE(reload_with_a_new_configuration_switches_files_and_client_ca) {
  DevSet set;
  auto tls = make_server(set.server("server", "ca.pem"));
  TestServer srv(tls);
  auto dev_client = make_client(client_config(set, "client"));
  ClientConfig other_cfg = client_config(set, "other-client");
  other_cfg.ca_file = set("other-ca.pem");
  auto other_client = make_client(other_cfg);
  BOOST_TEST(testing::get_hello(*dev_client, srv.port()) == "hello");
  BOOST_TEST(testing::get_hello(*other_client, srv.port()).starts_with("error"));

  Status reloaded = tls->reload(set.server("other-server", "other-ca.pem"));
  BOOST_TEST_REQUIRE(reloaded.ok(), reloaded.message());
  BOOST_TEST(testing::get_hello(*other_client, srv.port()) == "hello");
  BOOST_TEST(testing::get_hello(*dev_client, srv.port()).starts_with("error"));

  // A broken new configuration leaves the running one alone, files included.
  BOOST_TEST(!tls->reload(set.server("server", "nope.pem")).ok());
  BOOST_TEST(testing::get_hello(*other_client, srv.port()) == "hello");
  reloaded = tls->reload();
  BOOST_TEST_REQUIRE(reloaded.ok(), reloaded.message());
  BOOST_TEST(served_serial(srv.port()) == testing::serial_hex_of_file(set("other-server.pem")));

  // Dropping the client CA stops asking for client certificates.
  reloaded = tls->reload(set.server("server"));
  BOOST_TEST_REQUIRE(reloaded.ok(), reloaded.message());
  BOOST_TEST(testing::get_hello(*make_client(client_config(set)), srv.port()) == "hello");
}

BOOST_AUTO_TEST_CASE(files_changed_detects_a_replaced_file) {
  DevSet set;
  testing::replace_with_copy(set("ca.pem"), set("live-ca.pem"));
  auto tls = make_server(set.server("server", "live-ca.pem"));
  BOOST_TEST(!tls->files_changed());
  // Same content, new inode: what a rotation by rename looks like.
  testing::replace_with_copy(set("ca.pem"), set("live-ca.pem"));
  BOOST_TEST(tls->files_changed());
  Status reloaded = tls->reload();
  BOOST_TEST_REQUIRE(reloaded.ok(), reloaded.message());
  BOOST_TEST(!tls->files_changed());
  std::remove(set("live-ca.pem").c_str());
  BOOST_TEST(tls->files_changed());
}

// Run under -DPS_SANITIZE=thread to check the locking; here it checks that every handshake
// gets one whole certificate/key pair, whichever reload it races with.
BOOST_AUTO_TEST_CASE(reloads_racing_with_handshakes_always_serve_a_complete_identity) {
  DevSet set;
  auto tls = make_server(set.server("server"));
  TestServer srv(tls);
  const std::string a = testing::serial_hex_of_file(set("server.pem"));
  const std::string b = testing::serial_hex_of_file(set("other-server.pem"));
  std::atomic<bool> done{false};
  std::atomic<int> reload_failures{0};
  std::thread reloader([&] {
    for (int i = 0; !done.load(); ++i) {
      if (!tls->reload(set.server(i % 2 ? "server" : "other-server")).ok()) ++reload_failures;
    }
  });
  int seen_a = 0, seen_b = 0, other = 0;
  for (int i = 0; i < 60; ++i) {
    auto hs = testing::raw_handshake(srv.port());
    std::string serial = hs.ok && hs.peer ? testing::serial_hex(hs.peer.get()) : "";
    if (serial == a) ++seen_a;
    else if (serial == b) ++seen_b;
    else ++other;
  }
  done = true;
  reloader.join();
  BOOST_TEST(other == 0);
  BOOST_TEST(reload_failures.load() == 0);
  BOOST_TEST(seen_a + seen_b == 60);
}

BOOST_AUTO_TEST_CASE(a_bare_ssl_ctx_follows_reloads_too) {
  DevSet set;
  auto tls = make_server(set.server("server"));
  SslCtxPtr ctx = tls->make_ssl_ctx();
  BOOST_REQUIRE(ctx);
  Status reloaded = tls->reload(set.server("other-server"));
  BOOST_TEST_REQUIRE(reloaded.ok(), reloaded.message());
  ClientConfig other_cfg;
  other_cfg.ca_file = set("other-ca.pem");
  auto client = make_client(other_cfg);
  testing::RawHttpsServer raw(ctx.get());
  BOOST_TEST(testing::get_hello(*client, raw.port()) == "hello");
}

BOOST_AUTO_TEST_CASE(an_ssl_ctx_keeps_the_server_tls_alive) {
  DevSet set;
  SslCtxPtr ctx;
  {
    auto tls = make_server(set.server("server"));
    ctx = tls->make_ssl_ctx();
  }
  auto client = make_client(client_config(set));
  testing::RawHttpsServer raw(ctx.get());
  BOOST_TEST(testing::get_hello(*client, raw.port()) == "hello");
}

BOOST_AUTO_TEST_CASE(a_private_key_open_to_others_or_behind_a_symlink_is_refused) {
  DevSet set;
  const std::string key = set("server-key.pem");
  ::chmod(key.c_str(), 0644);
  LogCapture logs;
  auto open_key = ServerTls::create(set.server("server"), logs.log());
  BOOST_REQUIRE(!open_key.ok());
  BOOST_TEST(open_key.status().message().find(key) != std::string::npos);
  BOOST_TEST(open_key.status().message().find("too open") != std::string::npos,
             open_key.status().message());
  BOOST_TEST(open_key.status().message().find("BEGIN") == std::string::npos);

  ::chmod(key.c_str(), 0640);  // group-readable (root:ssl-cert) is a common layout
  BOOST_TEST(ServerTls::create(set.server("server"), logs.log()).ok());

  ::chmod(key.c_str(), 0600);
  const std::string link = set("linked-key.pem");
  BOOST_REQUIRE(::symlink(key.c_str(), link.c_str()) == 0);
  ServerConfig via_link = set.server("server");
  via_link.key_file = link;
  auto linked = ServerTls::create(via_link, logs.log());
  BOOST_REQUIRE(!linked.ok());
  BOOST_TEST(linked.status().message().find("symbolic link") != std::string::npos,
             linked.status().message());
}

BOOST_AUTO_TEST_SUITE_END()


}  // namespace
}  // namespace ps::tls
