// Typed requests and answers of the Vault operations the sidecar uses (see vault/api.h).
// Field meanings follow Vault's API (vault/README.md, "Facts about Vault's API"). Secrets
// (tokens) are held as Secret; the `id` field of token lookups is never parsed.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vault/secret.h"

namespace ps::vault {

// The operations, as labels for metrics and logs.
enum class Operation {
  health,
  leader,
  seal_status,
  read_role,
  read_role_policies,
  write_role_policies,
  list_roles,
  write_role,
  approle_login,
  lookup_self,
  renew_self,
  list_secret_id_accessors,
  destroy_secret_id_accessor,
  list_token_accessors,
  lookup_token_accessor,
  revoke_token_accessor,
  lookup_secret_id_accessor,
  delete_role,
  capabilities_self,
  read_policy,
};
std::string_view to_string(Operation op);

// sys/health's state, from its status code table (default codes, no overrides sent).
enum class HealthState {
  active,               // 200
  standby,              // 429
  dr_secondary,         // 472
  performance_standby,  // 473
  ha_unhealthy,         // 474
  uninitialized,        // 501
  sealed,               // 503
  removed,              // 530
};
std::string_view to_string(HealthState state);

struct Health {
  HealthState state = HealthState::active;
  int http_status = 200;
  bool initialized = false;
  bool sealed = false;
  bool standby = false;
  bool performance_standby = false;
  std::string version;
  std::string cluster_name;  // empty when sealed
  std::string cluster_id;    // empty when sealed
  std::int64_t server_time_utc = 0;
  std::string replication_dr_mode;
  std::string replication_performance_mode;
};

struct Leader {
  bool ha_enabled = false;
  bool is_self = false;
  bool performance_standby = false;
  std::string leader_address;
  std::string leader_cluster_address;
  std::string active_time;
};

struct SealStatus {
  std::string type;
  bool initialized = false;
  bool sealed = true;
  int t = 0;
  int n = 0;
  int progress = 0;
  std::string version;
  std::string storage_type;
  std::string cluster_name;
};

// GET auth/<mount>/role/<name>. token_policies is what the sidecar manages; the legacy
// `policies` is kept apart and never compared.
struct RoleInfo {
  std::vector<std::string> token_policies;
  std::vector<std::string> policies;  // legacy field, present only when set
  bool bind_secret_id = true;
  bool local_secret_ids = false;
  std::vector<std::string> secret_id_bound_cidrs;
  std::vector<std::string> token_bound_cidrs;
  std::int64_t secret_id_num_uses = 0;
  std::int64_t secret_id_ttl = 0;
  std::int64_t token_ttl = 0;
  std::int64_t token_max_ttl = 0;
  std::int64_t token_explicit_max_ttl = 0;
  std::int64_t token_period = 0;
  std::int64_t token_num_uses = 0;
  bool token_no_default_policy = false;
  std::string token_type;
  std::vector<std::string> warnings;
};

// POST auth/<mount>/role/<name>: only the fields set here are sent, so an update keeps every
// other field (Vault applies only fields present). Never sends the legacy `policies`.
struct RoleSpec {
  std::optional<std::vector<std::string>> token_policies;
  std::optional<bool> bind_secret_id;
  std::optional<std::vector<std::string>> secret_id_bound_cidrs;
  std::optional<std::int64_t> secret_id_num_uses;
  std::optional<std::int64_t> secret_id_ttl;
  std::optional<std::int64_t> token_ttl;
  std::optional<std::int64_t> token_max_ttl;
  std::optional<std::int64_t> token_explicit_max_ttl;
  std::optional<std::int64_t> token_period;
  std::optional<std::int64_t> token_num_uses;
  std::optional<bool> token_no_default_policy;
  std::optional<std::vector<std::string>> token_bound_cidrs;
  std::optional<std::string> token_type;
};

// Ranges the response parsers accept: a number outside them, not finite,
// or not a number at all is a bad_response, never a cast. TTLs: up to 100 years (Vault's own
// durations end at Go's 292 years; `now + seconds{ttl}` in nanoseconds overflows at about
// 292 years); counts up to 2^53 (exact in a double); Unix times up to the year 9999.
inline constexpr std::int64_t kMaxTtlSeconds = 100LL * 366 * 24 * 3600;
inline constexpr std::int64_t kMaxCount = std::int64_t{1} << 53;
inline constexpr std::int64_t kMaxUnixSeconds = 253402300799;  // 9999-12-31T23:59:59Z

// The `auth` block of a login or renew-self answer.
struct AuthInfo {
  Secret client_token;
  std::string accessor;
  std::vector<std::string> policies;
  std::vector<std::string> token_policies;
  std::map<std::string, std::string> metadata;
  std::int64_t lease_duration = 0;  // seconds; 0 = does not expire
  bool renewable = false;
  std::string token_type;
  bool orphan = false;
  std::vector<std::string> warnings;
};

// lookup-self / lookup-accessor `data` (the `id` is never read).
// POST .../secret-id-accessor/lookup (the secret itself is never returned).
struct SecretIdInfo {
  std::string accessor;
  std::string creation_time;    // RFC 3339 as Vault writes it
  std::string expiration_time;  // RFC 3339; "0001-01-01T00:00:00Z" when it never expires
  std::int64_t num_uses = 0;
  std::int64_t ttl = 0;
};

// Unix milliseconds of an RFC 3339 time ("2026-12-04T10:15:30.123456789Z",
// "...+01:00"); nullopt when it does not parse.
std::optional<std::int64_t> rfc3339_unix_ms(std::string_view text);

struct TokenInfo {
  std::string accessor;
  std::vector<std::string> policies;
  std::string path;
  std::string display_name;
  std::map<std::string, std::string> meta;
  std::int64_t ttl = 0;           // seconds left; 0 with no expire_time = never expires
  std::int64_t creation_ttl = 0;
  std::int64_t explicit_max_ttl = 0;
  std::int64_t num_uses = 0;
  std::int64_t creation_time = 0;
  std::string expire_time;        // RFC 3339, empty when null
  std::string issue_time;
  std::string type;
  bool renewable = false;
  bool orphan = false;
};

}  // namespace ps::vault
