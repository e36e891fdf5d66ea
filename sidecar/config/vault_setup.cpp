#include "sidecar/config/vault_setup.h"

#include <sys/stat.h>

#include "vault/retrying_api.h"

namespace ps::sidecar {
namespace {


// A VaultClient and the RetryingVaultApi in front of it, owned together.
class OwnedRetryingApi final : public vault::VaultApi {
 public:
  OwnedRetryingApi(std::unique_ptr<vault::VaultClient> client, Clock& clock,
                   vault::BackoffPolicy policy, RandomSource random, vault::TokenSource* tokens,
                   std::function<bool()> should_stop)
      : client_(std::move(client)),
        retry_(*client_, clock, policy, std::move(random), tokens, {}, std::move(should_stop)) {}

  vault::Result<vault::Health> health() override { return retry_.health(); }
  vault::Result<vault::Leader> leader() override { return retry_.leader(); }
  vault::Result<vault::SealStatus> seal_status() override { return retry_.seal_status(); }
  vault::Result<vault::AuthInfo> approle_login(const vault::Secret& role_id,
                                               const vault::Secret& secret_id) override {
    return retry_.approle_login(role_id, secret_id);
  }
  vault::Result<vault::TokenInfo> lookup_self(const vault::Secret& token) override {
    return retry_.lookup_self(token);
  }
  vault::Result<vault::AuthInfo> renew_self(const vault::Secret& token,
                                            std::chrono::seconds increment) override {
    return retry_.renew_self(token, increment);
  }
  vault::Result<std::optional<vault::RoleInfo>> read_role(const vault::RoleName& role) override {
    return retry_.read_role(role);
  }
  vault::Result<std::optional<std::vector<std::string>>> read_role_policies(
      const vault::RoleName& role) override {
    return retry_.read_role_policies(role);
  }
  vault::Result<void> write_role_policies(const vault::RoleName& role,
                                          const std::vector<std::string>& policies) override {
    return retry_.write_role_policies(role, policies);
  }
  vault::Result<std::vector<std::string>> list_roles() override { return retry_.list_roles(); }
  vault::Result<void> delete_role(const vault::RoleName& role) override {
    return retry_.delete_role(role);
  }
  vault::Result<void> write_role(const vault::RoleName& role,
                                 const vault::RoleSpec& spec) override {
    return retry_.write_role(role, spec);
  }
  vault::Result<std::vector<std::string>> list_secret_id_accessors(
      const vault::RoleName& role) override {
    return retry_.list_secret_id_accessors(role);
  }
  vault::Result<void> destroy_secret_id_accessor(const vault::RoleName& role,
                                                 const std::string& accessor) override {
    return retry_.destroy_secret_id_accessor(role, accessor);
  }
  vault::Result<std::optional<vault::SecretIdInfo>> lookup_secret_id_accessor(
      const vault::RoleName& role, const std::string& accessor) override {
    return retry_.lookup_secret_id_accessor(role, accessor);
  }
  vault::Result<std::vector<std::string>> list_token_accessors() override {
    return retry_.list_token_accessors();
  }
  vault::Result<vault::TokenInfo> lookup_token_accessor(const std::string& accessor) override {
    return retry_.lookup_token_accessor(accessor);
  }
  vault::Result<void> revoke_token_accessor(const std::string& accessor) override {
    return retry_.revoke_token_accessor(accessor);
  }

 private:
  std::unique_ptr<vault::VaultClient> client_;
  vault::RetryingVaultApi retry_;
};

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
  return std::shared_ptr<VaultSetup>(
      new VaultSetup(config, std::move(connection).value(), clock, std::move(random)));
}

std::unique_ptr<vault::VaultApi> VaultSetup::single_attempt_api() const {
  vault::BackoffPolicy once = config_.retry;
  once.max_attempts = 1;
  return std::make_unique<OwnedRetryingApi>(connection_.client(), clock_, once, random_,
                                            connection_.auth.get(), nullptr);
}

std::unique_ptr<vault::VaultApi> VaultSetup::retrying_api(std::function<bool()> should_stop) const {
  return std::make_unique<OwnedRetryingApi>(connection_.client(), clock_, config_.retry, random_,
                                            connection_.auth.get(), std::move(should_stop));
}

VaultApiFactory VaultSetup::single_attempt_factory() const {
  auto self = shared_from_this();
  return [self] { return self->single_attempt_api(); };
}

}  // namespace ps::sidecar
