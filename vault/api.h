// The seam between the sidecar and Vault: typed operations, one HTTP request each.
//
// VaultApi is implemented by VaultClient (HTTP over TLS), by RetryingVaultApi (a decorator that
// adds backoff and re-authentication) and by hand-written fakes in tests. Every operation
// returns a Result: a typed value, or an Error whose `action` says what to do next
// (vault/error.h). No operation throws.
//
// Reads turn Vault's 404 {"errors":[]} into an empty result (nullopt / empty list); writes
// scoped to a role turn it into ErrorCode::role_missing. Role names and the mount are
// validated types, so a request can only address `auth/<mount>/role/<that role>/...`.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "vault/error.h"
#include "vault/names.h"
#include "vault/secret.h"
#include "vault/types.h"

namespace ps::vault {

// A token and the generation it belongs to; the generation grows whenever the token changes.
struct TokenGrant {
  Secret token;
  std::uint64_t generation = 0;
};

// Where authenticated operations get their token. Implementations are thread-safe.
class TokenSource {
 public:
  virtual ~TokenSource() = default;
  // The current token. May log in first (AuthManager); fails with auth_unavailable (retry,
  // possibly with retry_after) or another Error when none can be had now.
  virtual Result<TokenGrant> current_token() = 0;
  // Called after Vault rejected the token of `rejected_generation` (403 "invalid token").
  // Succeeds when a token of a newer generation is available (obtained now, or already by
  // another thread); otherwise an Error saying whether to retry later or give up.
  virtual Result<void> reauthenticate(std::uint64_t rejected_generation) = 0;
};

// One finished HTTP request (or refused attempt), for metrics. Never carries a secret.
struct RequestEvent {
  Operation operation;
  int http_status = 0;                  // 0 when no HTTP answer was received
  std::optional<ErrorCode> error;       // set when the request failed
  std::chrono::microseconds latency{0};
};
using RequestObserver = std::function<void(const RequestEvent&)>;

class VaultApi {
 public:
  virtual ~VaultApi() = default;

  // --- No token needed ---
  // sys/health with Vault's default code table: every documented code (200, 429, 472, 473,
  // 474, 501, 503, 530) is a successful Health with its state; only other statuses and
  // transport failures are Errors.
  virtual Result<Health> health() = 0;
  virtual Result<Leader> leader() = 0;
  virtual Result<SealStatus> seal_status() = 0;
  // POST auth/<mount>/login. Bad credentials: 400 invalid_request (give_up).
  virtual Result<AuthInfo> approle_login(const Secret& role_id, const Secret& secret_id) = 0;

  // --- The given token (these manage a specific token, so they do not use the source) ---
  virtual Result<TokenInfo> lookup_self(const Secret& token) = 0;
  // `increment` 0 = let Vault choose.
  virtual Result<AuthInfo> renew_self(const Secret& token, std::chrono::seconds increment) = 0;

  // --- The TokenSource's token ---
  // nullopt when the role does not exist.
  virtual Result<std::optional<RoleInfo>> read_role(const RoleName& role) = 0;
  // GET .../role/<name>/policies -> token_policies; nullopt when the role does not exist.
  virtual Result<std::optional<std::vector<std::string>>> read_role_policies(
      const RoleName& role) = 0;
  // POST .../role/<name>/policies {"token_policies": [...]}. Needs only `update`, cannot create
  // a role: a missing role is ErrorCode::role_missing. Vault stores the list through
  // policyutil.ParsePolicies (trimmed, lowercased, deduplicated, sorted), so compare a
  // read-back as a sorted set of lowercased names, never literally.
  virtual Result<void> write_role_policies(const RoleName& role,
                                           const std::vector<std::string>& token_policies) = 0;
  // GET auth/<mount>/role?list=true -> lowercase names; empty when there are none.
  virtual Result<std::vector<std::string>> list_roles() = 0;
  // POST .../role/<name> with only the fields set in `spec` (create, or update keeping the
  // rest). Needs `create` for a missing role.
  virtual Result<void> write_role(const RoleName& role, const RoleSpec& spec) = 0;
  // DELETE .../role/<name>: 204 also for a missing role. Removes the role's secret IDs; tokens
  // already issued live on until they expire or are revoked.
  virtual Result<void> delete_role(const RoleName& role) = 0;
  // GET .../role/<name>/secret-id?list=true -> accessors; empty when there are none.
  virtual Result<std::vector<std::string>> list_secret_id_accessors(const RoleName& role) = 0;
  // POST .../role/<name>/secret-id-accessor/destroy. An unknown accessor (Vault: 500
  // "failed to find accessor entry") is ErrorCode::not_found.
  virtual Result<void> destroy_secret_id_accessor(const RoleName& role,
                                                  const std::string& accessor) = 0;
  // POST .../role/<name>/secret-id-accessor/lookup; nullopt for an unknown accessor (404).
  virtual Result<std::optional<SecretIdInfo>> lookup_secret_id_accessor(
      const RoleName& role, const std::string& accessor) = 0;
  // POST sys/capabilities-self {"paths": [...]}: the token's capabilities on each path
  // (["deny"] when none). Path keys as given.
  virtual Result<std::map<std::string, std::vector<std::string>>> capabilities_self(
      const std::vector<std::string>& paths) = 0;
  // GET sys/policies/acl/<name>: true when the ACL policy exists (404: false).
  virtual Result<bool> policy_exists(const std::string& name) = 0;
  // GET auth/token/accessors?list=true (needs sudo); empty when there are none.
  virtual Result<std::vector<std::string>> list_token_accessors() = 0;
  virtual Result<TokenInfo> lookup_token_accessor(const std::string& accessor) = 0;
  virtual Result<void> revoke_token_accessor(const std::string& accessor) = 0;
};

}  // namespace ps::vault
