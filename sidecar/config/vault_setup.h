// Building the sidecar's Vault connection from its configuration: the config file's `vault`
// section, then Vault's standard VAULT_* variables over it, then one VaultConnection (client
// factory + the shared AuthManager) and the per-thread VaultApis the sync worker and the
// reconciler use.
//
//   auto cfg = effective_vault_config(config.vault, env);
//   auto vault = VaultSetup::open(*cfg, clock, make_real_random(), logger);
//   SyncWorker worker(..., (*vault)->single_attempt_factory(), ...);
//   std::thread renewer([&] { (*vault)->auth().run(should_stop); });  // daemon only
#pragma once

#include <functional>
#include <memory>

#include "engine/base/status.h"
#include "sidecar/config/config_sync.h"  // default_vault_config
#include "sidecar/config/log.h"
#include "vault/api.h"
#include "vault/auth.h"
#include "engine/base/clock.h"
#include "vault/config.h"
#include "vault/connection.h"

namespace ps::sidecar {

// A VaultApi for one thread (its own keep-alive connection); see
// VaultSetup::single_attempt_factory().
using VaultApiFactory = std::function<std::unique_ptr<vault::VaultApi>()>;

// `from_file` with VAULT_* applied (VAULT_TOKEN switches auth to the token method), secret
// files required private, validated. invalid_argument, message starting "vault: " and naming
// the variable or key; never a token.
Result<vault::VaultConfig> effective_vault_config(const vault::VaultConfig& from_file,
                                                          const vault::EnvGetter& env);

class VaultSetup : public std::enable_shared_from_this<VaultSetup> {
 public:
  // Loads TLS material and builds the AuthManager; does not contact Vault. `clock` must
  // outlive the setup and every API it makes. Errors are invalid_argument ("vault: ...").
  static Result<std::shared_ptr<VaultSetup>> open(const vault::VaultConfig& config,
                                                          Clock& clock, RandomSource random,
                                                          Logger& log,
                                                          vault::RequestObserver observer = {});

  // A VaultApi for one thread: its own keep-alive connection; a rejected token is
  // re-authenticated once; nothing else is retried (the sync worker keeps its own schedule).
  std::unique_ptr<vault::VaultApi> single_attempt_api() const;
  // The same, retrying transient failures with vault.retry (max_retries, backoff).
  std::unique_ptr<vault::VaultApi> retrying_api(std::function<bool()> should_stop = {}) const;
  // single_attempt_api() as a factory; the factory keeps this setup alive.
  VaultApiFactory single_attempt_factory() const;

  vault::AuthManager& auth() const { return *connection_.auth; }
  const vault::VaultConnection& connection() const { return connection_; }
  const vault::VaultConfig& config() const { return config_; }

 private:
  VaultSetup(vault::VaultConfig config, vault::VaultConnection connection, Clock& clock,
             RandomSource random)
      : config_(std::move(config)),
        connection_(std::move(connection)),
        clock_(clock),
        random_(std::move(random)) {}

  vault::VaultConfig config_;
  vault::VaultConnection connection_;
  Clock& clock_;
  RandomSource random_;
};

}  // namespace ps::sidecar
