// The emulator's in-memory model of Vault's storage, and its JSON form for --state.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "vault/emulator/acl.h"
#include "vault/emulator/util.h"

namespace ps::vault::emulator {

inline constexpr std::int64_t kMountDefaultTtl = 2764800;  // 768h, sys default lease TTL
inline constexpr std::int64_t kMountMaxTtl = 2764800;      // 768h, sys max lease TTL

struct SecretId {
  std::string secret_id;
  std::string accessor;
  std::int64_t num_uses = 0;
  std::int64_t ttl = 0;
  WallTime creation_time{};
  WallTime expiration_time{};  // zero time when the secret ID never expires
  WallTime last_updated_time{};
  std::map<std::string, std::string> metadata;
  std::vector<std::string> cidr_list;
  std::vector<std::string> token_bound_cidrs;
};

struct Role {
  std::string name;  // lowercase
  std::string role_id;
  bool bind_secret_id = true;
  std::optional<std::vector<std::string>> secret_id_bound_cidrs;  // nil prints null
  std::int64_t secret_id_num_uses = 0;
  std::int64_t secret_id_ttl = 0;
  bool local_secret_ids = false;
  // tokenutil.TokenParams
  std::vector<std::string> token_bound_cidrs;
  std::int64_t token_explicit_max_ttl = 0;
  std::int64_t token_max_ttl = 0;
  bool token_no_default_policy = false;
  std::int64_t token_period = 0;
  std::vector<std::string> token_policies;  // stored as given (trimmed), sanitised at login
  std::string token_type = "default";
  std::int64_t token_ttl = 0;
  std::int64_t token_num_uses = 0;
  // deprecated fields, shown only when set
  std::vector<std::string> policies;
  std::int64_t period = 0;

  std::map<std::string, SecretId> secret_ids;                // secret_id -> entry
  std::unordered_map<std::string, std::string> accessors;    // accessor -> secret_id
};

struct Mount {
  std::string path;  // "approle" for auth/approle/
  std::string type = "approle";
  std::string accessor;
  std::string description;
  // sys/auth/<path>/tune; 0 = the system value (kMountDefaultTtl, kMountMaxTtl).
  std::int64_t default_lease_ttl = 0;
  std::int64_t max_lease_ttl = 0;
  std::string token_type = "default-service";
  std::map<std::string, Role> roles;                         // lowercase name -> role
  std::unordered_map<std::string, std::string> role_ids;     // role_id -> role name
  std::unordered_map<std::string, std::string> entity_ids;   // role_id (alias) -> entity id
};

struct Token {
  std::string id;
  std::string accessor;
  std::vector<std::string> policies;  // fixed at issue
  std::string path;                   // creation path: auth/approle/login, auth/token/create, ...
  std::optional<std::map<std::string, std::string>> meta;
  std::string display_name;
  std::int64_t num_uses = 0;          // 0 = unlimited
  std::string parent;                 // parent token id; empty for orphans
  WallTime creation_time{};
  std::int64_t creation_ttl = 0;      // seconds; 0 = never expires
  std::int64_t ttl = 0;               // TTL set at the last issue/renewal
  std::optional<WallTime> expire_time;
  std::int64_t explicit_max_ttl = 0;
  std::int64_t period = 0;
  std::string type = "service";
  bool renewable = true;
  std::optional<WallTime> last_renewal;
  std::string entity_id;
  std::vector<std::string> bound_cidrs;
  // AppRole tokens: the mount and role that issued them (renewal re-reads the role).
  std::string mount;
  std::string role_name;
};

struct Lockout {
  int failures = 0;
  WallTime last_failure{};
};

struct State {
  bool initialized = false;
  bool sealed = true;
  std::string cluster_name;
  std::string cluster_id;
  std::map<std::string, Mount> mounts;  // mount path without slashes -> mount
  std::unordered_map<std::string, Token> tokens;              // id -> token
  std::unordered_map<std::string, std::string> accessors;     // accessor -> id
  std::unordered_map<std::string, std::vector<std::string>> children;  // parent id -> child ids
  std::map<std::string, Policy> policies;                     // name -> policy (incl. default)
  std::map<std::string, Lockout> lockouts;                    // mount + "\n" + role_id
};

nlohmann::json state_to_json(const State& state);
// The state in `text` (state_to_json's JSON). invalid_argument when it is not a usable state,
// with the JSON library's message, "not a vault-emulator state file (format/version)" or
// "policy NAME: failed to parse policy: ...".
ps::Result<State> state_from_text(const std::string& text);

}  // namespace ps::vault::emulator
