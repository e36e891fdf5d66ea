// TLS between the client and the emulator process: every bad certificate situation refuses to
// talk (and no request reaches Vault), mTLS works, and a ClientTls reload is picked up by the
// kept-alive client on its next call.
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "tests/vault/emulator_fixture.h"

using ps::Code;
using ps::Result;
using ps::Status;

namespace ps::vault {
namespace {

using namespace ps::vault::testing;

std::string code_of(const Error& e) { return std::string(to_string(e.code)); }
std::string action_of(const Error& e) { return std::string(to_string(e.action)); }

EmulatorOptions serving(const std::string& cert, const std::string& key,
                        const std::string& client_ca = "") {
  EmulatorOptions o;
  o.cert = cert;
  o.key = key;
  o.client_ca = client_ca;
  return o;
}

// A fixture whose emulator serves a chosen certificate.
struct ServingFixture {
  TempDir dir;
  DevPki pki{dir};
  LogCapture logs;
  RealClock clock;
  std::unique_ptr<EmulatorProcess> emu;

  void start(EmulatorOptions o) { emu = std::make_unique<EmulatorProcess>(dir, pki, o); }

  Result<Health> health_with(tls::ClientConfig tls_config, std::string address = "") {
    VaultConfig c;
    c.address = address.empty() ? emu->address() : address;
    c.tls = std::move(tls_config);
    c.connect_timeout = std::chrono::seconds{5};
    c.request_timeout = std::chrono::seconds{5};
    auto f = VaultClientFactory::create(c, clock, logs.fn());
    if (!f) return f.error();
    auto client = f.value()->make_client(std::make_shared<StaticTokenSource>(Secret("hvs.x")));
    return client->health();
  }
  tls::ClientConfig trusting(const std::string& ca) {
    tls::ClientConfig t;
    t.ca_file = ca;
    return t;
  }
};

void refused(const Result<Health>& r, const std::string& expected_code,
             const std::string& detail = "") {
  BOOST_REQUIRE(!r.ok());
  BOOST_TEST_MESSAGE("refused: " << r.error().describe());
  BOOST_TEST(code_of(r.error()) == expected_code);
  BOOST_TEST(r.error().http_status == 0);
  if (!detail.empty()) {
    BOOST_TEST_INFO(r.error().message);
    BOOST_TEST(r.error().message.find(detail) != std::string::npos);
  }
}

BOOST_AUTO_TEST_SUITE(vault_client_tls)

BOOST_FIXTURE_TEST_CASE(a_server_from_another_ca_is_refused, ServingFixture) {
  start(serving(pki.other_server, pki.other_server_key));
  auto r = health_with(trusting(pki.ca));
  refused(r, "tls_certificate");
  BOOST_TEST(action_of(r.error()) == "give_up");
  BOOST_TEST(emu->vault_requests().empty());
}

BOOST_FIXTURE_TEST_CASE(an_expired_server_certificate_is_refused, ServingFixture) {
  start(serving(pki.expired, pki.expired_key));
  auto r = health_with(trusting(pki.ca));
  refused(r, "tls_certificate", "expired");
  BOOST_TEST(emu->vault_requests().empty());
}

BOOST_FIXTURE_TEST_CASE(a_certificate_for_another_host_is_refused, ServingFixture) {
  start(serving(pki.wrong_host, pki.wrong_host_key));
  auto r = health_with(trusting(pki.ca));
  refused(r, "tls_certificate");
  BOOST_TEST(emu->vault_requests().empty());
  // Naming the host the certificate is for (VAULT_TLS_SERVER_NAME) makes it acceptable.
  auto named = trusting(pki.ca);
  named.server_name = "wrong.example.invalid";
  BOOST_TEST(health_with(named).ok());
}

BOOST_FIXTURE_TEST_CASE(the_right_name_on_the_wrong_server_name_setting_is_refused,
                        ServingFixture) {
  start(serving(pki.server, pki.server_key));
  auto named = trusting(pki.ca);
  named.server_name = "vault.example.invalid";
  refused(health_with(named), "tls_certificate");
}

BOOST_FIXTURE_TEST_CASE(mutual_tls_needs_a_client_certificate_from_the_right_ca,
                        ServingFixture) {
  start(serving(pki.server, pki.server_key, pki.ca));
  auto none = health_with(trusting(pki.ca));
  BOOST_REQUIRE(!none.ok());  // the server refuses the handshake (or drops us after it)
  BOOST_TEST_MESSAGE("no client certificate: " << none.error().describe());
  BOOST_TEST(none.error().http_status == 0);

  auto stranger = trusting(pki.ca);
  stranger.cert_file = pki.other_client;
  stranger.key_file = pki.other_client_key;
  auto other = health_with(stranger);
  BOOST_REQUIRE(!other.ok());
  BOOST_TEST_MESSAGE("client certificate from another CA: " << other.error().describe());
  BOOST_TEST(other.error().http_status == 0);
  BOOST_TEST(emu->vault_requests().empty());

  auto mtls = trusting(pki.ca);
  mtls.cert_file = pki.client;
  mtls.key_file = pki.client_key;
  auto ok = health_with(mtls);
  BOOST_REQUIRE_MESSAGE(ok.ok(), (ok.ok() ? std::string() : ok.error().describe()));
  BOOST_TEST(to_string(ok->state) == "active");
}

BOOST_FIXTURE_TEST_CASE(unusable_tls_settings_are_refused_before_connecting, ServingFixture) {
  start(serving(pki.server, pki.server_key));
  auto r = health_with(trusting(dir.file("no-such-ca.pem")));
  BOOST_REQUIRE(!r.ok());
  BOOST_TEST(code_of(r.error()) == "tls_config");
  BOOST_TEST(emu->vault_requests().empty());
}

BOOST_FIXTURE_TEST_CASE(a_reloaded_ca_is_used_from_the_next_call_on, ServingFixture) {
  start(serving(pki.server, pki.server_key));
  const std::string trust = dir.file("trust.pem");
  std::filesystem::copy_file(pki.ca, trust);
  VaultConfig c;
  c.address = emu->address();
  c.tls.ca_file = trust;
  auto factory = VaultClientFactory::create(c, clock, logs.fn());
  BOOST_REQUIRE(factory.ok());
  auto client = factory.value()->make_client(std::make_shared<StaticTokenSource>(Secret("x")));
  BOOST_REQUIRE(client->health().ok());
  BOOST_REQUIRE(client->health().ok());
  BOOST_TEST(client->connections_opened() == 1u);

  // Rotate the trust to the other CA: the kept-alive connection is dropped, the new one
  // refuses the (old-CA) server.
  replace_file(trust, [&] {
    std::ifstream in(pki.other_ca);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }());
  BOOST_REQUIRE(factory.value()->tls()->reload().ok());
  auto refused_now = client->health();
  BOOST_REQUIRE(!refused_now.ok());
  BOOST_TEST(code_of(refused_now.error()) == "tls_certificate");
  BOOST_TEST(logs.contains("TLS material was reloaded"));

  replace_file(trust, [&] {
    std::ifstream in(pki.ca);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }());
  BOOST_REQUIRE(factory.value()->tls()->reload().ok());
  BOOST_TEST(client->health().ok());
  BOOST_TEST(client->connections_opened() == 3u);
}

BOOST_FIXTURE_TEST_CASE(a_rotated_client_certificate_is_picked_up_on_reload, ServingFixture) {
  start(serving(pki.server, pki.server_key, pki.ca));
  const std::string cert = dir.file("me.pem");
  const std::string key = dir.file("me-key.pem");
  std::filesystem::copy_file(pki.other_client, cert);
  std::filesystem::copy_file(pki.other_client_key, key);
  VaultConfig c;
  c.address = emu->address();
  c.tls.ca_file = pki.ca;
  c.tls.cert_file = cert;
  c.tls.key_file = key;
  c.request_timeout = std::chrono::seconds{5};
  auto factory = VaultClientFactory::create(c, clock, logs.fn());
  BOOST_REQUIRE(factory.ok());
  auto client = factory.value()->make_client(std::make_shared<StaticTokenSource>(Secret("x")));
  BOOST_REQUIRE(!client->health().ok());  // a certificate the server does not accept

  std::filesystem::copy_file(pki.client, cert, std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(pki.client_key, key,
                             std::filesystem::copy_options::overwrite_existing);
  Status reloaded = factory.value()->tls()->reload();
  BOOST_REQUIRE_MESSAGE(reloaded.ok(), reloaded.message());
  auto ok = client->health();
  BOOST_REQUIRE_MESSAGE(ok.ok(), (ok.ok() ? std::string() : ok.error().describe()));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace ps::vault
