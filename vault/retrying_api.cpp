#include "vault/retrying_api.h"

#include <utility>

namespace ps::vault {

RetryingVaultApi::RetryingVaultApi(std::unique_ptr<VaultApi> inner, Clock& clock,
                                   BackoffPolicy policy, RandomSource random, TokenSource* tokens,
                                   RetryObserver on_retry, std::function<bool()> should_stop)
    : inner_(std::move(inner)),
      with_tokens_{clock, policy, random, tokens, on_retry, should_stop},
      without_tokens_{clock, policy, random, nullptr, on_retry, should_stop} {}

Result<Health> RetryingVaultApi::health() {
  return retry_call(without_tokens_, Operation::health, [&] { return inner_->health(); });
}
Result<Leader> RetryingVaultApi::leader() {
  return retry_call(without_tokens_, Operation::leader, [&] { return inner_->leader(); });
}
Result<SealStatus> RetryingVaultApi::seal_status() {
  return retry_call(without_tokens_, Operation::seal_status,
                    [&] { return inner_->seal_status(); });
}
Result<AuthInfo> RetryingVaultApi::approle_login(const Secret& role_id, const Secret& secret_id) {
  return retry_call(without_tokens_, Operation::approle_login,
                    [&] { return inner_->approle_login(role_id, secret_id); });
}
Result<TokenInfo> RetryingVaultApi::lookup_self(const Secret& token) {
  return retry_call(without_tokens_, Operation::lookup_self,
                    [&] { return inner_->lookup_self(token); });
}
Result<AuthInfo> RetryingVaultApi::renew_self(const Secret& token,
                                              std::chrono::seconds increment) {
  return retry_call(without_tokens_, Operation::renew_self,
                    [&] { return inner_->renew_self(token, increment); });
}
Result<std::optional<RoleInfo>> RetryingVaultApi::read_role(const RoleName& role) {
  return retry_call(with_tokens_, Operation::read_role, [&] { return inner_->read_role(role); });
}
Result<std::optional<std::vector<std::string>>> RetryingVaultApi::read_role_policies(
    const RoleName& role) {
  return retry_call(with_tokens_, Operation::read_role_policies,
                    [&] { return inner_->read_role_policies(role); });
}
Result<void> RetryingVaultApi::write_role_policies(
    const RoleName& role, const std::vector<std::string>& token_policies) {
  return retry_call(with_tokens_, Operation::write_role_policies,
                    [&] { return inner_->write_role_policies(role, token_policies); });
}
Result<std::vector<std::string>> RetryingVaultApi::list_roles() {
  return retry_call(with_tokens_, Operation::list_roles, [&] { return inner_->list_roles(); });
}
Result<void> RetryingVaultApi::delete_role(const RoleName& role) {
  return retry_call(with_tokens_, Operation::delete_role, [&] { return inner_->delete_role(role); });
}

Result<void> RetryingVaultApi::write_role(const RoleName& role, const RoleSpec& spec) {
  return retry_call(with_tokens_, Operation::write_role,
                    [&] { return inner_->write_role(role, spec); });
}
Result<std::vector<std::string>> RetryingVaultApi::list_secret_id_accessors(
    const RoleName& role) {
  return retry_call(with_tokens_, Operation::list_secret_id_accessors,
                    [&] { return inner_->list_secret_id_accessors(role); });
}
Result<void> RetryingVaultApi::destroy_secret_id_accessor(const RoleName& role,
                                                          const std::string& accessor) {
  return retry_call(with_tokens_, Operation::destroy_secret_id_accessor,
                    [&] { return inner_->destroy_secret_id_accessor(role, accessor); });
}
Result<std::optional<SecretIdInfo>> RetryingVaultApi::lookup_secret_id_accessor(
    const RoleName& role, const std::string& accessor) {
  return retry_call(with_tokens_, Operation::lookup_secret_id_accessor,
                    [&] { return inner_->lookup_secret_id_accessor(role, accessor); });
}

Result<std::map<std::string, std::vector<std::string>>> RetryingVaultApi::capabilities_self(
    const std::vector<std::string>& paths) {
  return retry_call(with_tokens_, Operation::capabilities_self,
                    [&] { return inner_->capabilities_self(paths); });
}

Result<bool> RetryingVaultApi::policy_exists(const std::string& name) {
  return retry_call(with_tokens_, Operation::read_policy, [&] { return inner_->policy_exists(name); });
}

Result<std::vector<std::string>> RetryingVaultApi::list_token_accessors() {
  return retry_call(with_tokens_, Operation::list_token_accessors,
                    [&] { return inner_->list_token_accessors(); });
}
Result<TokenInfo> RetryingVaultApi::lookup_token_accessor(const std::string& accessor) {
  return retry_call(with_tokens_, Operation::lookup_token_accessor,
                    [&] { return inner_->lookup_token_accessor(accessor); });
}
Result<void> RetryingVaultApi::revoke_token_accessor(const std::string& accessor) {
  return retry_call(with_tokens_, Operation::revoke_token_accessor,
                    [&] { return inner_->revoke_token_accessor(accessor); });
}

}  // namespace ps::vault
