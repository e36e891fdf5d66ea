// Wiring in one call: the client factory (TLS material, address, observer) and the shared
// AuthManager, from a VaultConfig. What the sidecar's commands and daemon start from:
//
//   auto vault = VaultConnection::open(config, clock, make_real_random(), log, observer);
//   auto client = vault->client();             // one per worker thread
//   std::thread renewer([&] { vault->auth->run(stop); });
//   Status reloaded = vault->factory->tls()->reload();  // on SIGHUP
#pragma once

#include <memory>

#include "vault/auth.h"
#include "vault/client.h"
#include "vault/config.h"

namespace ps::vault {

struct VaultConnection {
  std::shared_ptr<VaultClientFactory> factory;
  std::shared_ptr<AuthManager> auth;

  // validate(config), then the factory (loads TLS) and the AuthManager (own client, same
  // observer). Does not contact Vault: the first token is obtained on first use or tick().
  static Result<VaultConnection> open(const VaultConfig& config, Clock& clock,
                                      RandomSource random, LogFn log,
                                      RequestObserver observer = {});

  // A client for one thread, authenticated through `auth`.
  std::unique_ptr<VaultClient> client() const { return factory->make_client(auth); }
};

inline Result<VaultConnection> VaultConnection::open(const VaultConfig& config, Clock& clock,
                                                     RandomSource random, LogFn log,
                                                     RequestObserver observer) {
  if (auto valid = validate(config); !valid) return std::move(valid).error();
  auto factory = VaultClientFactory::create(config, clock, log, std::move(observer));
  if (!factory) return std::move(factory).error();
  VaultConnection c;
  c.factory = std::move(factory).value();
  c.auth = std::make_shared<AuthManager>(config.auth, c.factory->make_client(nullptr), clock,
                                         std::move(random), std::move(log));
  return c;
}

}  // namespace ps::vault
