// RetryingVaultApi: a VaultApi decorator that runs every operation through retry_call
// (vault/retry.h): backoff with full jitter, Retry-After honoured, one re-authentication on
// an invalid token, stop on give_up, max_total or max_attempts.
//
// Operations on the TokenSource's token re-authenticate through `tokens`; lookup_self and
// renew_self (which manage one given token) and the unauthenticated ones never do.
// With max_attempts = 1 it makes a single attempt plus, on a rejected token, one attempt with
// a fresh token: the shape a caller with its own schedule (the sync worker) wants.
//
// It owns the VaultApi it wraps, so `RetryingVaultApi(factory->make_client(tokens), ...)` is
// the whole per-thread API.
//
// Threading: as thread-safe as the wrapped VaultApi (a VaultClient: one thread at a time).
#pragma once

#include <memory>

#include "vault/api.h"
#include "vault/retry.h"

namespace ps::vault {

class RetryingVaultApi final : public VaultApi {
 public:
  // `inner` must not be null. `clock` and `tokens` (which may be null) must outlive this
  // object.
  RetryingVaultApi(std::unique_ptr<VaultApi> inner, Clock& clock, BackoffPolicy policy,
                   RandomSource random, TokenSource* tokens, RetryObserver on_retry = {},
                   std::function<bool()> should_stop = {});

  Result<Health> health() override;
  Result<Leader> leader() override;
  Result<SealStatus> seal_status() override;
  Result<AuthInfo> approle_login(const Secret& role_id, const Secret& secret_id) override;
  Result<TokenInfo> lookup_self(const Secret& token) override;
  Result<AuthInfo> renew_self(const Secret& token, std::chrono::seconds increment) override;
  Result<std::optional<RoleInfo>> read_role(const RoleName& role) override;
  Result<std::optional<std::vector<std::string>>> read_role_policies(
      const RoleName& role) override;
  Result<void> write_role_policies(const RoleName& role,
                                   const std::vector<std::string>& token_policies) override;
  Result<std::vector<std::string>> list_roles() override;
  Result<void> write_role(const RoleName& role, const RoleSpec& spec) override;
  Result<void> delete_role(const RoleName& role) override;
  Result<std::vector<std::string>> list_secret_id_accessors(const RoleName& role) override;
  Result<void> destroy_secret_id_accessor(const RoleName& role,
                                          const std::string& accessor) override;
  Result<std::optional<SecretIdInfo>> lookup_secret_id_accessor(
      const RoleName& role, const std::string& accessor) override;
  Result<std::map<std::string, std::vector<std::string>>> capabilities_self(
      const std::vector<std::string>& paths) override;
  Result<bool> policy_exists(const std::string& name) override;
  Result<std::vector<std::string>> list_token_accessors() override;
  Result<TokenInfo> lookup_token_accessor(const std::string& accessor) override;
  Result<void> revoke_token_accessor(const std::string& accessor) override;

 private:
  std::unique_ptr<VaultApi> inner_;
  RetryContext with_tokens_;
  RetryContext without_tokens_;
};

}  // namespace ps::vault
