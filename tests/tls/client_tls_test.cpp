// ClientTls against real httplib SSL servers on 127.0.0.1: what it trusts (only the configured
// CAs), which name it checks and sends, mTLS, TLS 1.2 minimum, skip_verify, reload.
#include <cstdlib>
#include <filesystem>
#include <optional>

#include <boost/test/unit_test.hpp>
#include <openssl/x509.h>

#include "tests/tls/tls_test_support.h"

namespace ps::tls {
namespace {

using testing::DevSet;
using testing::LogCapture;
using testing::TestServer;

std::shared_ptr<ServerTls> make_server(const ServerConfig& config) {
  auto tls = ServerTls::create(config, nullptr);
  BOOST_REQUIRE_MESSAGE(tls.ok(), tls.status().message());
  return *tls;
}

std::shared_ptr<ClientTls> make_client(const ClientConfig& config, LogCapture* logs = nullptr) {
  auto tls = ClientTls::create(config, logs ? logs->log() : nullptr);
  BOOST_REQUIRE_MESSAGE(tls.ok(), tls.status().message());
  return *tls;
}

ClientConfig trusting(const std::string& ca_file, const std::string& server_name = "") {
  ClientConfig c;
  c.ca_file = ca_file;
  c.server_name = server_name;
  return c;
}

bool refused(const std::string& result) { return result.starts_with("error"); }

// A c_rehash-style directory: `<subject hash>.0` symlinks to the CA files, made with the
// OpenSSL API.
void link_hashed(const std::string& dir, const std::string& ca_file) {
  auto loaded = detail::load_certs(ca_file);
  BOOST_REQUIRE_MESSAGE(loaded.ok(), loaded.status().message());
  detail::X509StackPtr certs = std::move(*loaded);
  int ok = 0;
  unsigned long hash =
      X509_NAME_hash_ex(X509_get_subject_name(sk_X509_value(certs.get(), 0)), nullptr, nullptr, &ok);
  BOOST_REQUIRE(ok == 1);
  char name[32];
  for (int n = 0;; ++n) {
    std::snprintf(name, sizeof name, "%08lx.%d", hash, n);
    if (!std::filesystem::exists(std::filesystem::symlink_status(dir + "/" + name))) break;
  }
  std::filesystem::create_symlink(ca_file, dir + "/" + name);
}

// Sets an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_) ::setenv(name_, old_->c_str(), 1);
    else ::unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

BOOST_AUTO_TEST_SUITE(client_tls)

BOOST_AUTO_TEST_CASE(trusts_the_configured_ca_file) {
  DevSet set;
  TestServer srv(make_server(set.server("server")));
  BOOST_TEST(testing::get_hello(*make_client(trusting(set("ca.pem"))), srv.port()) == "hello");
  BOOST_TEST(testing::get_hello(*make_client(trusting(set("ca.pem"))), srv.port(), "localhost") ==
             "hello");
}

BOOST_AUTO_TEST_CASE(trusts_a_hashed_ca_directory) {
  DevSet set;
  testing::TempDir dir;
  link_hashed(dir.path(), set("ca.pem"));
  testing::replace_file(dir.file("README"), "not a certificate\n");
  TestServer srv(make_server(set.server("server")));
  TestServer other(make_server(set.server("other-server")));
  ClientConfig c;
  c.ca_dir = dir.path();
  auto tls = make_client(c);
  BOOST_TEST(testing::get_hello(*tls, srv.port()) == "hello");
  BOOST_TEST(refused(testing::get_hello(*tls, other.port())));
}

BOOST_AUTO_TEST_CASE(ca_file_wins_over_ca_directory) {
  DevSet set;
  testing::TempDir dir;
  link_hashed(dir.path(), set("other-ca.pem"));
  TestServer srv(make_server(set.server("server")));
  TestServer other(make_server(set.server("other-server")));
  ClientConfig c;
  c.ca_file = set("ca.pem");
  c.ca_dir = dir.path();
  auto tls = make_client(c);
  BOOST_TEST(testing::get_hello(*tls, srv.port()) == "hello");
  BOOST_TEST(refused(testing::get_hello(*tls, other.port())));
}

BOOST_AUTO_TEST_CASE(refuses_a_server_certificate_from_another_ca) {
  DevSet set;
  TestServer srv(make_server(set.server("other-server")));
  BOOST_TEST(refused(testing::get_hello(*make_client(trusting(set("ca.pem"))), srv.port())));
  BOOST_TEST(testing::get_hello(*make_client(trusting(set("other-ca.pem"))), srv.port()) ==
             "hello");
}

// httplib 0.11.4 adds the default verify paths (which honour $SSL_CERT_FILE and $SSL_CERT_DIR)
// to the context's store on the first connection; the configured CA must still be the only
// one trusted.
BOOST_AUTO_TEST_CASE(trusts_only_the_configured_ca_even_when_the_system_store_has_another) {
  DevSet set;
  TestServer srv(make_server(set.server("other-server")));
  ScopedEnv file("SSL_CERT_FILE", set("other-ca.pem"));
  testing::TempDir hashed;
  link_hashed(hashed.path(), set("other-ca.pem"));
  ScopedEnv dir("SSL_CERT_DIR", hashed.path());
  BOOST_TEST(refused(testing::get_hello(*make_client(trusting(set("ca.pem"))), srv.port())));
  ClientConfig by_dir;
  testing::TempDir ours;
  link_hashed(ours.path(), set("ca.pem"));
  by_dir.ca_dir = ours.path();
  BOOST_TEST(refused(testing::get_hello(*make_client(by_dir), srv.port())));
  // The environment really does reach OpenSSL: with no CA configured the system store is
  // used, and now it holds the other CA.
  BOOST_TEST(testing::get_hello(*make_client(ClientConfig{}), srv.port()) == "hello");
}

// The system bundle is not even loaded into the context's (unused) store: with configured
// CAs, a client's store stays empty after a verified request.
BOOST_AUTO_TEST_CASE(configured_cas_leave_the_system_bundle_unread) {
  DevSet set;
  TestServer srv(make_server(set.server("server")));
  ScopedEnv file("SSL_CERT_FILE", set("other-ca.pem"));
  // The number of certificates in the store after one request, and whether it succeeded.
  auto after_request = [&](const ClientConfig& config) {
    auto client = make_client(config)->make_client("127.0.0.1", srv.port());
    client->set_connection_timeout(10);
    client->set_read_timeout(10);
    const bool ok = static_cast<bool>(client->Get("/hello"));
    X509_STORE* store = SSL_CTX_get_cert_store(client->ssl_context());
    return std::make_pair(sk_X509_OBJECT_num(X509_STORE_get0_objects(store)), ok);
  };
  BOOST_TEST((after_request(trusting(set("ca.pem"))) == std::make_pair(0, true)));
  // Without configured CAs the system store ($SSL_CERT_FILE: another CA) is loaded, and
  // refuses this server.
  BOOST_TEST((after_request(ClientConfig{}) == std::make_pair(1, false)));
}

BOOST_AUTO_TEST_CASE(refuses_an_expired_server_certificate) {
  DevSet set;
  TestServer srv(make_server(set.server("expired")));
  BOOST_TEST(refused(testing::get_hello(*make_client(trusting(set("ca.pem"))), srv.port())));
}

BOOST_AUTO_TEST_CASE(refuses_a_certificate_for_another_host_name) {
  DevSet set;
  TestServer srv(make_server(set.server("wrong-host")));
  auto tls = make_client(trusting(set("ca.pem")));
  BOOST_TEST(refused(testing::get_hello(*tls, srv.port())));
  BOOST_TEST(refused(testing::get_hello(*tls, srv.port(), "localhost")));
}

BOOST_AUTO_TEST_CASE(refuses_a_client_certificate_used_as_a_server_certificate) {
  DevSet set;  // client.pem has extendedKeyUsage clientAuth only
  TestServer srv(make_server(set.server("client")));
  ClientConfig c = trusting(set("ca.pem"), "policy-sidecar dev client");
  BOOST_TEST(refused(testing::get_hello(*make_client(c), srv.port())));
}

// httplib's own host check falls back to the subject CN; OpenSSL's check (set by ClientTls)
// does not, as RFC 6125 and Go's client require when subjectAltName is present.
BOOST_AUTO_TEST_CASE(refuses_a_name_found_only_in_the_common_name) {
  DevSet set;
  devpki::Pem ca{testing::read_text_file(set("ca.pem")), testing::read_text_file(set("ca-key.pem"))};
  devpki::LeafSpec spec;
  spec.common_name = "localhost";
  spec.dns_names = {"elsewhere.example.invalid"};
  devpki::Pem leaf = devpki::make_leaf(ca, spec).value();
  testing::replace_file(set("cn-only.pem"), leaf.cert);
  testing::replace_file(set("cn-only-key.pem"), leaf.key, true);
  TestServer srv(make_server(set.server("cn-only")));
  BOOST_TEST(refused(
      testing::get_hello(*make_client(trusting(set("ca.pem"), "localhost")), srv.port())));
  BOOST_TEST(testing::get_hello(*make_client(trusting(set("ca.pem"), "elsewhere.example.invalid")),
                                srv.port()) == "hello");
}

BOOST_AUTO_TEST_CASE(server_name_replaces_the_connect_host_for_verification) {
  DevSet set;
  TestServer srv(make_server(set.server("server")));
  TestServer wrong(make_server(set.server("wrong-host")));
  // 127.0.0.1 is dialled; "localhost" is what is checked.
  BOOST_TEST(testing::get_hello(*make_client(trusting(set("ca.pem"), "localhost")), srv.port()) ==
             "hello");
  // A certificate without 127.0.0.1 in it is accepted for the name it does carry ...
  BOOST_TEST(testing::get_hello(*make_client(trusting(set("ca.pem"), "wrong.example.invalid")),
                                wrong.port()) == "hello");
  // ... and a wrong server name is refused even where the dialled address would match.
  BOOST_TEST(refused(testing::get_hello(
      *make_client(trusting(set("ca.pem"), "wrong.example.invalid")), srv.port())));
}

BOOST_AUTO_TEST_CASE(sends_the_server_name_as_sni) {
  DevSet set;
  auto server = make_server(set.server("wrong-host"));
  {
    SslCtxPtr ctx = server->make_ssl_ctx();
    testing::RawHttpsServer raw(ctx.get());
    auto tls = make_client(trusting(set("ca.pem"), "wrong.example.invalid"));
    BOOST_TEST(testing::get_hello(*tls, raw.port()) == "hello");
    BOOST_TEST(raw.wait_for_sni() == "wrong.example.invalid");
  }
  {
    SslCtxPtr ctx = make_server(set.server("server"))->make_ssl_ctx();
    testing::RawHttpsServer raw(ctx.get());
    auto tls = make_client(trusting(set("ca.pem")));
    BOOST_TEST(testing::get_hello(*tls, raw.port(), "localhost") == "hello");
    BOOST_TEST(raw.wait_for_sni() == "localhost");
  }
}

BOOST_AUTO_TEST_CASE(presents_its_client_certificate_for_mtls) {
  DevSet set;
  TestServer srv(make_server(set.server("server", "ca.pem")));
  ClientConfig c = trusting(set("ca.pem"));
  BOOST_TEST(refused(testing::get_hello(*make_client(c), srv.port())));
  c.cert_file = set("client.pem");
  c.key_file = set("client-key.pem");
  BOOST_TEST(testing::get_hello(*make_client(c), srv.port()) == "hello");
  c.cert_file = set("other-client.pem");
  c.key_file = set("other-client-key.pem");
  BOOST_TEST(refused(testing::get_hello(*make_client(c), srv.port())));
}

BOOST_AUTO_TEST_CASE(refuses_a_server_that_offers_only_tls_1_1) {
  DevSet set;
  auto server = make_server(set.server("server"));
  SslCtxPtr ctx = server->make_ssl_ctx();
  SSL_CTX_set_security_level(ctx.get(), 0);  // let the server really offer TLS 1.1
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_1_VERSION);
  SSL_CTX_set_max_proto_version(ctx.get(), TLS1_1_VERSION);
  testing::RawHttpsServer raw(ctx.get());
  auto tls = make_client(trusting(set("ca.pem")));
  auto client = tls->make_client("127.0.0.1", raw.port());
  BOOST_TEST(SSL_CTX_get_min_proto_version(client->ssl_context()) == TLS1_2_VERSION);
  // OpenSSL 3 refuses TLS 1.1 at its default security level anyway; lowered, only the
  // minimum version set by ClientTls stands in the way.
  SSL_CTX_set_security_level(client->ssl_context(), 0);
  client->set_connection_timeout(10);
  client->set_read_timeout(10);
  BOOST_TEST(!client->Get("/hello"));
}

BOOST_AUTO_TEST_CASE(refuses_incomplete_or_broken_configuration) {
  DevSet set;
  testing::TempDir empty;
  testing::TempDir broken;
  testing::replace_file(broken.file("ca.pem"), "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
  struct Case {
    std::string name;
    ClientConfig config;
    std::string expect;
  } cases[] = {
      {"cert without key", {set("ca.pem"), "", set("client.pem"), "", "", false}, "key"},
      {"key without cert", {set("ca.pem"), "", "", set("client-key.pem"), "", false}, "certificate"},
      {"key of another cert",
       {set("ca.pem"), "", set("client.pem"), set("other-client-key.pem"), "", false},
       "does not match"},
      {"missing CA file", {set("nope.pem"), "", "", "", "", false}, set("nope.pem")},
      {"garbage CA file", {set("client-key.pem"), "", "", "", "", false}, set("client-key.pem")},
      {"empty CA directory", {"", empty.path(), "", "", "", false}, empty.path()},
      {"broken CA in directory", {"", broken.path(), "", "", "", false}, broken.file("ca.pem")},
      {"missing CA directory", {"", set("nope"), "", "", "", false}, set("nope")},
  };
  for (const Case& c : cases) {
    BOOST_TEST_CONTEXT(c.name) {
      LogCapture logs;
      auto created = ClientTls::create(c.config, logs.log());
      BOOST_TEST(!created.ok());
      const std::string error = created.status().message();
      BOOST_TEST(error.find(c.expect) != std::string::npos, error);
      BOOST_TEST(logs.count(LogLevel::error, error) == 1u);
      BOOST_TEST(!logs.any_contains("-----BEGIN"));
    }
  }
}

BOOST_AUTO_TEST_CASE(skip_verify_is_explicit_and_warned_about_on_create_and_every_reload) {
  DevSet set;
  TestServer srv(make_server(set.server("other-server")));
  LogCapture quiet;
  make_client(trusting(set("ca.pem")), &quiet);
  BOOST_TEST(quiet.count(LogLevel::warn, "verification is DISABLED") == 0u);

  ClientConfig c = trusting(set("ca.pem"));
  c.skip_verify = true;
  LogCapture logs;
  auto tls = make_client(c, &logs);
  BOOST_TEST(logs.count(LogLevel::warn, "verification is DISABLED") == 1u);
  BOOST_TEST(testing::get_hello(*tls, srv.port()) == "hello");  // another CA, yet accepted
  Status reloaded = tls->reload();
  BOOST_TEST_REQUIRE(reloaded.ok(), reloaded.message());
  BOOST_TEST(logs.count(LogLevel::warn, "verification is DISABLED") == 2u);
  reloaded = tls->reload(c);
  BOOST_TEST_REQUIRE(reloaded.ok(), reloaded.message());
  BOOST_TEST(logs.count(LogLevel::warn, "verification is DISABLED") == 3u);
  // Turning it off again is a reload like any other, and verification is back.
  reloaded = tls->reload(trusting(set("ca.pem")));
  BOOST_TEST_REQUIRE(reloaded.ok(), reloaded.message());
  BOOST_TEST(logs.count(LogLevel::warn, "verification is DISABLED") == 3u);
  BOOST_TEST(refused(testing::get_hello(*tls, srv.port())));
}

BOOST_AUTO_TEST_CASE(reload_bumps_generation_and_picks_up_a_new_ca) {
  DevSet set;
  testing::replace_with_copy(set("ca.pem"), set("live-ca.pem"));
  TestServer srv(make_server(set.server("other-server")));
  LogCapture logs;
  auto tls = make_client(trusting(set("live-ca.pem")), &logs);
  BOOST_TEST(tls->generation() == 0u);
  auto before = tls->make_client("127.0.0.1", srv.port());
  BOOST_TEST(refused(testing::get_hello(*tls, srv.port())));

  testing::replace_with_copy(set("other-ca.pem"), set("live-ca.pem"));
  BOOST_TEST(tls->files_changed());
  Status reloaded = tls->reload();
  BOOST_TEST_REQUIRE(reloaded.ok(), reloaded.message());
  BOOST_TEST(tls->generation() == 1u);
  BOOST_TEST(!tls->files_changed());
  BOOST_TEST(testing::get_hello(*tls, srv.port()) == "hello");
  // A client made before the reload keeps the material it was made with.
  BOOST_TEST(!before->Get("/hello"));
}

BOOST_AUTO_TEST_CASE(failed_reload_keeps_the_old_ca_and_generation) {
  DevSet set;
  testing::replace_with_copy(set("ca.pem"), set("live-ca.pem"));
  TestServer srv(make_server(set.server("server")));
  LogCapture logs;
  auto tls = make_client(trusting(set("live-ca.pem")), &logs);
  testing::replace_file(set("live-ca.pem"), "garbage\n");
  BOOST_TEST(tls->files_changed());
  Status reloaded = tls->reload();
  BOOST_TEST(!reloaded.ok());
  const std::string error = reloaded.message();
  BOOST_TEST(error.find(set("live-ca.pem")) != std::string::npos, error);
  BOOST_TEST(logs.count(LogLevel::error, "reload failed") == 1u);
  BOOST_TEST(tls->generation() == 0u);
  BOOST_TEST(!tls->files_changed());
  BOOST_TEST(testing::get_hello(*tls, srv.port()) == "hello");

  BOOST_TEST(!tls->reload(trusting(set("nope.pem"))).ok());
  BOOST_TEST(tls->generation() == 0u);
  BOOST_TEST(testing::get_hello(*tls, srv.port()) == "hello");
}

BOOST_AUTO_TEST_CASE(files_changed_watches_the_ca_directory_and_client_certificate) {
  DevSet set;
  testing::TempDir dir;
  link_hashed(dir.path(), set("ca.pem"));
  testing::replace_with_copy(set("client.pem"), set("live-client.pem"));
  ClientConfig c;
  c.ca_dir = dir.path();
  c.cert_file = set("live-client.pem");
  c.key_file = set("client-key.pem");
  auto tls = make_client(c);
  BOOST_TEST(!tls->files_changed());
  testing::replace_with_copy(set("client.pem"), set("live-client.pem"));
  BOOST_TEST(tls->files_changed());
  Status reloaded = tls->reload();
  BOOST_TEST_REQUIRE(reloaded.ok(), reloaded.message());
  BOOST_TEST(!tls->files_changed());
  link_hashed(dir.path(), set("other-ca.pem"));  // a new CA appears in the directory
  BOOST_TEST(tls->files_changed());
  reloaded = tls->reload();
  BOOST_TEST_REQUIRE(reloaded.ok(), reloaded.message());
  BOOST_TEST(tls->generation() == 2u);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace ps::tls
