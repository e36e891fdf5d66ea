// A hand-written fake VaultApi for unit tests: scripted answers for login, lookup-self and
// renew-self, and a record of every call. Other operations answer not_implemented.
#pragma once

#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "vault/api.h"

namespace ps::vault::testing {

struct FakeVaultScript {
  std::mutex mu;
  std::deque<Result<AuthInfo>> logins;
  std::deque<Result<TokenInfo>> lookups;
  std::deque<Result<AuthInfo>> renewals;
  std::vector<std::string> calls;          // operation names in order
  std::vector<std::string> tokens_used;    // tokens given to lookup/renew
  std::vector<std::string> credentials;    // "role_id:secret_id" given to login

  int count(const std::string& op) {
    std::lock_guard<std::mutex> lock(mu);
    int n = 0;
    for (const auto& c : calls) n += c == op ? 1 : 0;
    return n;
  }
};

inline AuthInfo auth_info(const std::string& token, std::int64_t ttl, bool renewable = true) {
  AuthInfo a;
  a.client_token = Secret(token);
  a.accessor = "accessor-" + token.substr(token.size() > 3 ? token.size() - 3 : 0);
  a.lease_duration = ttl;
  a.renewable = renewable;
  a.token_type = "service";
  return a;
}

inline TokenInfo token_info(std::int64_t ttl, bool renewable, std::int64_t creation_ttl = 0) {
  TokenInfo t;
  t.ttl = ttl;
  t.renewable = renewable;
  t.creation_ttl = creation_ttl ? creation_ttl : ttl;
  return t;
}

inline Error http_error(int status, std::vector<std::string> errors) {
  return classify_http(status, errors, std::nullopt);
}

class FakeVaultApi final : public VaultApi {
 public:
  explicit FakeVaultApi(std::shared_ptr<FakeVaultScript> script) : s_(std::move(script)) {}

  Result<AuthInfo> approle_login(const Secret& role_id, const Secret& secret_id) override {
    std::lock_guard<std::mutex> lock(s_->mu);
    s_->calls.push_back("login");
    s_->credentials.push_back(role_id.reveal() + ":" + secret_id.reveal());
    return next(s_->logins);
  }
  Result<TokenInfo> lookup_self(const Secret& token) override {
    std::lock_guard<std::mutex> lock(s_->mu);
    s_->calls.push_back("lookup_self");
    s_->tokens_used.push_back(token.reveal());
    return next(s_->lookups);
  }
  Result<AuthInfo> renew_self(const Secret& token, std::chrono::seconds) override {
    std::lock_guard<std::mutex> lock(s_->mu);
    s_->calls.push_back("renew_self");
    s_->tokens_used.push_back(token.reveal());
    return next(s_->renewals);
  }

  Result<Health> health() override { return unsupported(); }
  Result<Leader> leader() override { return unsupported(); }
  Result<SealStatus> seal_status() override { return unsupported(); }
  Result<std::optional<RoleInfo>> read_role(const RoleName&) override { return unsupported(); }
  Result<std::optional<std::vector<std::string>>> read_role_policies(const RoleName&) override {
    return unsupported();
  }
  Result<void> write_role_policies(const RoleName&, const std::vector<std::string>&) override {
    return unsupported();
  }
  Result<std::vector<std::string>> list_roles() override { return unsupported(); }
  Result<void> write_role(const RoleName&, const RoleSpec&) override { return unsupported(); }
  Result<std::vector<std::string>> list_secret_id_accessors(const RoleName&) override {
    return unsupported();
  }
  Result<void> destroy_secret_id_accessor(const RoleName&, const std::string&) override {
    return unsupported();
  }
  Result<void> delete_role(const RoleName&) override { return unsupported(); }
  Result<std::optional<SecretIdInfo>> lookup_secret_id_accessor(const RoleName&,
                                                                const std::string&) override {
    return unsupported();
  }
  Result<std::vector<std::string>> list_token_accessors() override { return unsupported(); }
  Result<TokenInfo> lookup_token_accessor(const std::string&) override { return unsupported(); }
  Result<void> revoke_token_accessor(const std::string&) override { return unsupported(); }

 private:
  static Error unsupported() {
    return Error::make(ErrorCode::not_implemented, Action::give_up, "not scripted");
  }
  template <class T>
  static Result<T> next(std::deque<Result<T>>& queue) {
    if (queue.empty()) {
      return Error::make(ErrorCode::transport, Action::retry, "fake: no scripted answer left");
    }
    Result<T> r = queue.front();
    if (queue.size() > 1) queue.pop_front();  // the last answer repeats
    return r;
  }

  std::shared_ptr<FakeVaultScript> s_;
};

}  // namespace ps::vault::testing
