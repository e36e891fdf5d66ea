// A running vault-emulator (separate process, real TLS) plus clients made the product's way.
#pragma once

#include <boost/test/unit_test.hpp>

#include <memory>
#include <string>

#include "tests/support/emulator_process.h"
#include "tests/vault/test_support.h"
#include "vault/auth.h"
#include "vault/client.h"

namespace ps::vault::testing {

using ps::testing::DevPki;
using ps::testing::EmulatorOptions;
using ps::testing::EmulatorProcess;

struct EmulatorFixture {
  TempDir dir;
  DevPki pki{dir};
  LogCapture logs;
  RealClock clock;
  std::unique_ptr<EmulatorProcess> emu;

  explicit EmulatorFixture(EmulatorOptions options = {}) {
    emu = std::make_unique<EmulatorProcess>(dir, pki, std::move(options));
  }

  VaultConfig config() const {
    VaultConfig c;
    c.address = emu->address();
    c.tls.ca_file = pki.ca;
    c.connect_timeout = std::chrono::seconds{5};
    c.request_timeout = std::chrono::seconds{10};
    return c;
  }

  std::shared_ptr<VaultClientFactory> factory(const VaultConfig& c, RequestObserver obs = {}) {
    auto f = VaultClientFactory::create(c, clock, logs.fn(), std::move(obs));
    BOOST_REQUIRE_MESSAGE(f.ok(), (f.ok() ? std::string() : f.error().message));
    return f.value();
  }

  std::unique_ptr<VaultClient> client_with_token(const std::string& token) {
    return factory(config())->make_client(std::make_shared<StaticTokenSource>(Secret(token)));
  }
  std::unique_ptr<VaultClient> root_client() {
    return client_with_token(emu->options().root_token);
  }
};

inline RoleName role(const std::string& name) {
  auto r = RoleName::parse(name);
  BOOST_REQUIRE(r.ok());
  return r.value();
}

}  // namespace ps::vault::testing
