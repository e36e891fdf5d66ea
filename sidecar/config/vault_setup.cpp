#include "sidecar/config/vault_setup.h"

#include <sys/stat.h>

#include "vault/retrying_api.h"

namespace ps::sidecar {
namespace {

// Refuses a secret file anyone but its owner may read, before the first login (the
// AuthManager checks again at every read).
Status check_private(const std::string& path, const char* key) {
  if (path.empty()) return Status::success();
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return {Code::invalid_argument, std::string("vault: ") + key + ": cannot read " + path};
  }
  if (!S_ISREG(st.st_mode)) {
    return {Code::invalid_argument, std::string("vault: ") + key + ": " + path +
                                        " is not a regular file"};
  }
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    return {Code::invalid_argument, std::string("vault: ") + key + ": " + path +
                                        " is accessible by group or others (chmod 600 it)"};
  }
  return Status::success();
}

}  // namespace

Result<vault::VaultConfig> effective_vault_config(const vault::VaultConfig& from_file,
                                                          const vault::EnvGetter& env) {
  vault::VaultConfig config = from_file;
  if (auto applied = vault::apply_vault_environment(config, env); !applied) {
    return Status(Code::invalid_argument, "vault: " + applied.error().message);
  }
  config.auth.require_private_files = true;
  if (auto valid = vault::validate(config); !valid) {
    return Status(Code::invalid_argument, "vault: " + valid.error().message);
  }
  switch (config.auth.method) {
    case vault::AuthMethod::token_file:
      if (Status s = check_private(config.auth.token_file, "vault.auth.token_file"); !s.ok()) {
        return s;
      }
      break;
    case vault::AuthMethod::approle:
      if (Status s = check_private(config.auth.secret_id_file, "vault.auth.secret_id_file");
          !s.ok()) {
        return s;
      }
      if (Status s = check_private(config.auth.role_id_file, "vault.auth.role_id_file");
          !s.ok()) {
        return s;
      }
      break;
    case vault::AuthMethod::token:
      break;
  }
  return config;
}

Result<std::shared_ptr<VaultSetup>> VaultSetup::open(const vault::VaultConfig& config,
                                                             Clock& clock, RandomSource random,
                                                             Logger& log,
                                                             vault::RequestObserver observer) {
  auto connection =
      vault::VaultConnection::open(config, clock, random, log.as_log_fn("vault"), std::move(observer));
  if (!connection) {
    return Status(Code::invalid_argument, "vault: " + connection.error().message);
  }
  // Which credentials are in use, never the credentials themselves.
  nlohmann::json fields = {{"method", std::string(vault::to_string(config.auth.method))},
                           {"source", config.auth.source},
                           {"address", config.address},
                           {"managed_mount", config.mount}};
  if (config.auth.method == vault::AuthMethod::approle) fields["login_mount"] = config.auth.mount;
  if (config.auth.method == vault::AuthMethod::token_file) fields["token_file"] = config.auth.token_file;
  log.info("vault.auth", "Vault authentication", fields);
  if (config.auth.vault_token_ignored) {
    log.warn("vault.auth", "VAULT_TOKEN is set but not used: the config names the " +
                               std::string(vault::to_string(config.auth.method)) +
                               " method (set vault.auth.vault_token_overrides to use it)");
  }
  return std::shared_ptr<VaultSetup>(
      new VaultSetup(config, std::move(connection).value(), clock, std::move(random)));
}

std::unique_ptr<vault::VaultApi> VaultSetup::single_attempt_api() const {
  vault::BackoffPolicy once = config_.retry;
  once.max_attempts = 1;
  return std::make_unique<vault::RetryingVaultApi>(connection_.client(), clock_, once, random_,
                                                   connection_.auth.get());
}

std::unique_ptr<vault::VaultApi> VaultSetup::retrying_api(std::function<bool()> should_stop) const {
  return std::make_unique<vault::RetryingVaultApi>(connection_.client(), clock_, config_.retry,
                                                   random_, connection_.auth.get(),
                                                   vault::RetryObserver{}, std::move(should_stop));
}

VaultApiFactory VaultSetup::single_attempt_factory() const {
  auto self = shared_from_this();
  return [self] { return self->single_attempt_api(); };
}

}  // namespace ps::sidecar
