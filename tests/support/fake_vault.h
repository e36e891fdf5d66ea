// The one hand-written fake of the Vault seam (vault::VaultApi) for unit tests, in memory:
//  - authentication: scripted answers for login, lookup-self and renew-self (each queue's last
//    answer repeats; an empty queue answers a retryable transport error), with the
//    credentials and tokens each call was given;
//  - AppRole roles with token_policies and Vault's per-field semantics (a write to a missing
//    role is role_missing; the per-field endpoint stores names lowercased, sorted,
//    deduplicated), scripted faults, a "sealed" switch, per-role permission denials, hooks
//    that run inside a request (to stage races);
//  - secret IDs per role (accessor -> creation time) and tokens (accessor -> role, policies,
//    creation time), for revocation: list, look up, destroy, revoke, delete role;
//  - a record of every call in order: "login", "lookup_self", "renew_self", "read <role>",
//    "write <role>", "create <role>", "list ", "delete <role>", "secret_ids <role>",
//    "secret_id <accessor>", "destroy <accessor>", "tokens ", "token <accessor>",
//    "revoke <accessor>".
// Other operations answer not_implemented. Thread-safe (the reconciler reads from several
// threads); tests share the FakeVaultState with the fakes they hand out.
#pragma once

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "vault/api.h"

namespace ps::testing {

struct FakeVaultState {
  std::mutex mu;
  std::vector<std::string> calls;  // every call, in order (see above)

  // ---- authentication script ----
  std::deque<vault::Result<vault::AuthInfo>> logins;
  std::deque<vault::Result<vault::TokenInfo>> lookups;
  std::deque<vault::Result<vault::AuthInfo>> renewals;
  std::vector<std::string> tokens_used;  // tokens given to lookup/renew
  std::vector<std::string> credentials;  // "role_id:secret_id" given to login

  // ---- roles ----
  std::map<std::string, std::vector<std::string>> roles;  // role -> token_policies
  std::deque<vault::Error> faults;  // the next role requests fail with these, in order
  bool sealed = false;
  std::set<std::string> denied_writes;  // roles whose writes get permission denied
  std::set<std::string> denied_reads;
  // Run (without the lock) when a role request arrives, before it is answered.
  std::function<void(const std::string& op, const std::string& role)> on_request;
  std::function<void(const std::string& role)> after_write;  // after a write was applied

  // ---- credentials ----
  struct FakeToken {
    std::string role;
    std::vector<std::string> policies;
    std::int64_t created_s = 0;  // Unix seconds
  };
  std::map<std::string, std::map<std::string, std::string>> secret_ids;  // role -> accessor -> RFC 3339
  std::map<std::string, FakeToken> tokens;  // accessor -> token
  bool tokens_need_sudo = false;            // list_token_accessors -> permission denied
  std::map<std::string, std::int64_t> token_ttl_s;  // role -> token_ttl (default 3600)

  // Calls starting with `prefix`.
  std::size_t count(const std::string& prefix) {
    std::lock_guard<std::mutex> lock(mu);
    return static_cast<std::size_t>(std::count_if(calls.begin(), calls.end(), [&](const auto& c) {
      return c.rfind(prefix, 0) == 0;
    }));
  }
  std::size_t requests() {
    std::lock_guard<std::mutex> lock(mu);
    return calls.size();
  }
  std::optional<std::vector<std::string>> role(const std::string& name) {
    std::lock_guard<std::mutex> lock(mu);
    auto it = roles.find(name);
    if (it == roles.end()) return std::nullopt;
    return it->second;
  }
  void set_role(const std::string& name, std::vector<std::string> policies) {
    std::lock_guard<std::mutex> lock(mu);
    roles[name] = std::move(policies);
  }
};

inline vault::AuthInfo auth_info(const std::string& token, std::int64_t ttl,
                                 bool renewable = true) {
  vault::AuthInfo a;
  a.client_token = vault::Secret(token);
  a.accessor = "accessor-" + token.substr(token.size() > 3 ? token.size() - 3 : 0);
  a.lease_duration = ttl;
  a.renewable = renewable;
  a.token_type = "service";
  return a;
}

inline vault::TokenInfo token_info(std::int64_t ttl, bool renewable,
                                   std::int64_t creation_ttl = 0) {
  vault::TokenInfo t;
  t.ttl = ttl;
  t.renewable = renewable;
  t.creation_ttl = creation_ttl ? creation_ttl : ttl;
  return t;
}

inline vault::Error http_error(int status, std::vector<std::string> errors) {
  return vault::classify_http(status, errors, std::nullopt);
}

inline vault::Error sealed_error() { return http_error(503, {"Vault is sealed"}); }

class FakeVault final : public vault::VaultApi {
 public:
  explicit FakeVault(std::shared_ptr<FakeVaultState> s) : s_(std::move(s)) {}

  // ---- authentication (scripted) ----
  vault::Result<vault::AuthInfo> approle_login(const vault::Secret& role_id,
                                               const vault::Secret& secret_id) override {
    std::lock_guard<std::mutex> lock(s_->mu);
    s_->calls.push_back("login");
    s_->credentials.push_back(role_id.reveal() + ":" + secret_id.reveal());
    return next(s_->logins);
  }
  vault::Result<vault::TokenInfo> lookup_self(const vault::Secret& token) override {
    std::lock_guard<std::mutex> lock(s_->mu);
    s_->calls.push_back("lookup_self");
    s_->tokens_used.push_back(token.reveal());
    return next(s_->lookups);
  }
  vault::Result<vault::AuthInfo> renew_self(const vault::Secret& token,
                                            std::chrono::seconds) override {
    std::lock_guard<std::mutex> lock(s_->mu);
    s_->calls.push_back("renew_self");
    s_->tokens_used.push_back(token.reveal());
    return next(s_->renewals);
  }

  // ---- roles (in memory) ----
  vault::Result<std::optional<std::vector<std::string>>> read_role_policies(
      const vault::RoleName& role) override {
    if (auto e = begin("read", role.str())) return *e;
    std::lock_guard<std::mutex> lock(s_->mu);
    if (s_->denied_reads.count(role.str())) return denied();
    auto it = s_->roles.find(role.str());
    if (it == s_->roles.end()) return std::optional<std::vector<std::string>>{};
    return std::optional<std::vector<std::string>>{it->second};
  }

  // Recorded as "read <role>" like read_role_policies: the reconciler reads whole roles.
  vault::Result<std::optional<vault::RoleInfo>> read_role(const vault::RoleName& role) override {
    auto policies = read_role_policies(role);
    if (!policies) return policies.error();
    if (!*policies) return std::optional<vault::RoleInfo>{};
    vault::RoleInfo info;
    info.token_policies = **policies;
    std::lock_guard<std::mutex> lock(s_->mu);
    info.token_ttl = s_->token_ttl_s.count(role.str()) ? s_->token_ttl_s[role.str()] : 3600;
    info.token_max_ttl = info.token_ttl;
    return std::optional<vault::RoleInfo>(info);
  }

  vault::Result<void> write_role_policies(const vault::RoleName& role,
                                          const std::vector<std::string>& policies) override {
    if (auto e = begin("write", role.str())) return *e;
    {
      std::lock_guard<std::mutex> lock(s_->mu);
      if (s_->denied_writes.count(role.str())) return denied();
      auto it = s_->roles.find(role.str());
      if (it == s_->roles.end()) {
        return vault::Error::make(vault::ErrorCode::role_missing, vault::Action::give_up,
                                  "unsupported path", 404);
      }
      std::vector<std::string> stored;
      for (auto p : policies) {
        std::transform(p.begin(), p.end(), p.begin(), [](unsigned char c) {
          return static_cast<char>(std::tolower(c));
        });
        stored.push_back(p);
      }
      std::sort(stored.begin(), stored.end());
      stored.erase(std::unique(stored.begin(), stored.end()), stored.end());
      it->second = stored;
    }
    if (s_->after_write) s_->after_write(role.str());
    return {};
  }

  vault::Result<void> write_role(const vault::RoleName& role, const vault::RoleSpec& spec) override {
    if (auto e = begin("create", role.str())) return *e;
    std::lock_guard<std::mutex> lock(s_->mu);
    if (s_->denied_writes.count(role.str())) return denied();
    s_->roles[role.str()] = spec.token_policies.value_or(std::vector<std::string>{});
    return {};
  }

  vault::Result<std::vector<std::string>> list_roles() override {
    if (auto e = begin("list", "")) return *e;
    std::lock_guard<std::mutex> lock(s_->mu);
    std::vector<std::string> out;
    for (const auto& [name, _] : s_->roles) out.push_back(name);
    return out;
  }

  // ---- credentials (in memory) ----
  vault::Result<void> delete_role(const vault::RoleName& role) override {
    if (auto e = begin("delete", role.str())) return *e;
    std::lock_guard<std::mutex> lock(s_->mu);
    s_->roles.erase(role.str());
    s_->secret_ids.erase(role.str());  // Vault removes the role's secret IDs, not its tokens
    return {};
  }
  vault::Result<std::vector<std::string>> list_secret_id_accessors(
      const vault::RoleName& role) override {
    if (auto e = begin("secret_ids", role.str())) return *e;
    std::lock_guard<std::mutex> lock(s_->mu);
    if (!s_->roles.count(role.str())) return http_error(400, {"role does not exist"});
    std::vector<std::string> out;
    for (const auto& [accessor, _] : s_->secret_ids[role.str()]) out.push_back(accessor);
    return out;
  }
  vault::Result<std::optional<vault::SecretIdInfo>> lookup_secret_id_accessor(
      const vault::RoleName& role, const std::string& accessor) override {
    if (auto e = begin("secret_id", accessor)) return *e;
    std::lock_guard<std::mutex> lock(s_->mu);
    auto& ids = s_->secret_ids[role.str()];
    auto it = ids.find(accessor);
    if (it == ids.end()) return std::optional<vault::SecretIdInfo>{};
    vault::SecretIdInfo info;
    info.accessor = accessor;
    info.creation_time = it->second;
    return std::optional<vault::SecretIdInfo>(info);
  }
  vault::Result<void> destroy_secret_id_accessor(const vault::RoleName& role,
                                                 const std::string& accessor) override {
    if (auto e = begin("destroy", accessor)) return *e;
    std::lock_guard<std::mutex> lock(s_->mu);
    if (s_->secret_ids[role.str()].erase(accessor) == 0) {
      return vault::Error::make(vault::ErrorCode::not_found, vault::Action::give_up,
                                "failed to find accessor entry", 500);
    }
    return {};
  }
  vault::Result<std::vector<std::string>> list_token_accessors() override {
    if (auto e = begin("tokens", "")) return *e;
    std::lock_guard<std::mutex> lock(s_->mu);
    if (s_->tokens_need_sudo) return denied();
    std::vector<std::string> out;
    for (const auto& [accessor, _] : s_->tokens) out.push_back(accessor);
    return out;
  }
  vault::Result<vault::TokenInfo> lookup_token_accessor(const std::string& accessor) override {
    if (auto e = begin("token", accessor)) return *e;
    std::lock_guard<std::mutex> lock(s_->mu);
    auto it = s_->tokens.find(accessor);
    if (it == s_->tokens.end()) return http_error(400, {"invalid accessor"});
    vault::TokenInfo t;
    t.accessor = accessor;
    t.policies = it->second.policies;
    t.meta["role_name"] = it->second.role;
    t.creation_time = it->second.created_s;
    return t;
  }
  vault::Result<void> revoke_token_accessor(const std::string& accessor) override {
    if (auto e = begin("revoke", accessor)) return *e;
    std::lock_guard<std::mutex> lock(s_->mu);
    if (s_->tokens.erase(accessor) == 0) return http_error(400, {"invalid accessor"});
    return {};
  }

  // ---- not part of the fake ----
  vault::Result<std::map<std::string, std::vector<std::string>>> capabilities_self(
      const std::vector<std::string>&) override {
    return unsupported();
  }
  vault::Result<bool> policy_exists(const std::string&) override { return unsupported(); }
  vault::Result<vault::Health> health() override { return unsupported(); }
  vault::Result<vault::Leader> leader() override { return unsupported(); }
  vault::Result<vault::SealStatus> seal_status() override { return unsupported(); }


 private:
  static vault::Error unsupported() {
    return vault::Error::make(vault::ErrorCode::not_implemented, vault::Action::give_up,
                              "not part of the fake");
  }
  static vault::Error denied() { return http_error(403, {"permission denied"}); }

  template <class T>
  static vault::Result<T> next(std::deque<vault::Result<T>>& queue) {
    if (queue.empty()) {
      return vault::Error::make(vault::ErrorCode::transport, vault::Action::retry,
                                "fake: no scripted answer left");
    }
    vault::Result<T> r = queue.front();
    if (queue.size() > 1) queue.pop_front();  // the last answer repeats
    return r;
  }

  // Records the request, runs the hook, then answers a scripted fault or "sealed" if any.
  std::optional<vault::Error> begin(const std::string& op, const std::string& role) {
    {
      std::lock_guard<std::mutex> lock(s_->mu);
      s_->calls.push_back(op + " " + role);
    }
    if (s_->on_request) s_->on_request(op, role);
    std::lock_guard<std::mutex> lock(s_->mu);
    if (!s_->faults.empty()) {
      vault::Error e = s_->faults.front();
      s_->faults.pop_front();
      return e;
    }
    if (s_->sealed) return sealed_error();
    return std::nullopt;
  }

  std::shared_ptr<FakeVaultState> s_;
};

}  // namespace ps::testing
