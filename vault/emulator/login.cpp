// AppRole login (path_login.go) and user lockout (Vault 1.13+ request_handling.go).
#include "vault/emulator/core.h"

namespace ps::vault::emulator {
namespace {

constexpr int kLockoutThreshold = 5;
constexpr std::chrono::minutes kLockoutDuration{15};
constexpr std::chrono::minutes kLockoutCounterReset{15};

std::string qt(const std::string& s) { return safe_dump(json(s)); }

// True when `lock_key` is locked out at `t`; a failure count past its reset window is dropped.
bool locked_out(State& state, const std::string& lock_key, WallTime t) {
  auto it = state.lockouts.find(lock_key);
  if (it == state.lockouts.end()) return false;
  if (t - it->second.last_failure > kLockoutCounterReset) {
    state.lockouts.erase(it);
    return false;
  }
  return it->second.failures >= kLockoutThreshold && t - it->second.last_failure < kLockoutDuration;
}

// Counts a failed login for `lock_key` at `t` (restarting a count past its reset window).
void record_failure(State& state, const std::string& lock_key, WallTime t) {
  Lockout& l = state.lockouts[lock_key];
  if (l.failures > 0 && t - l.last_failure > kLockoutCounterReset) l.failures = 0;
  ++l.failures;
  l.last_failure = t;
}

// What a login's credentials carry into the token: metadata and bound CIDRs.
struct LoginGrant {
  std::map<std::string, std::string> metadata;
  std::vector<std::string> token_cidrs;
};

// Checks and uses up the login's secret ID (when the role binds one) and the role's secret-ID
// CIDRs, filling `grant`; the 400 answer when they do not allow the login. `fail` records a
// failed attempt for the lockout.
template <typename OnFailure>
std::optional<VaultResponse> check_credentials(const Call& c, Role& role, WallTime t,
                                               LoginGrant& grant, OnFailure fail) {
  const std::string& ip = c.http.remote_addr;
  if (role.bind_secret_id) {
    std::string secret = trim(c.fields.str("secret_id"));
    if (secret.empty()) return VaultResponse::bad("missing secret_id");
    auto sit = role.secret_ids.find(secret);
    if (sit == role.secret_ids.end()) {
      fail();
      return VaultResponse::bad("invalid role or secret ID");
    }
    // Login does not check expiration_time: expired secret IDs live until the periodic tidy.
    SecretId entry = sit->second;
    if (entry.num_uses > 0) {
      if (entry.num_uses == 1) {
        role.accessors.erase(entry.accessor);
        role.secret_ids.erase(sit);
      } else {
        --sit->second.num_uses;
        sit->second.last_updated_time = t;
      }
    }
    if (!entry.cidr_list.empty() && !ip_in_any_cidr(ip, entry.cidr_list)) {
      return VaultResponse::bad("source address " + qt(ip) +
                         " unauthorized by CIDR restrictions on the secret ID");
    }
    grant.metadata = entry.metadata;
    if (!entry.token_bound_cidrs.empty()) grant.token_cidrs = entry.token_bound_cidrs;
  }
  if (role.secret_id_bound_cidrs && !role.secret_id_bound_cidrs->empty() &&
      !ip_in_any_cidr(ip, *role.secret_id_bound_cidrs)) {
    return VaultResponse::bad("source address " + qt(ip) + " unauthorized by CIDR restrictions on the role");
  }
  return std::nullopt;
}

// The policies a login token gets from its role (with `default` unless the role opts out).
std::vector<std::string> login_policies(const Role& role) {
  std::vector<std::string> policies =
      sanitize_policies(role.token_policies.empty() ? role.policies : role.token_policies,
                        !role.token_no_default_policy);
  if (role.token_no_default_policy) {
    policies.erase(std::remove(policies.begin(), policies.end(), "default"), policies.end());
  }
  return policies;
}

// The token a successful login issues (not yet stored); the role's entity ID is created on
// its first login.
Token login_token(Emulator::Core& core, Mount& m, const Role& role,
                  const std::vector<std::string>& policies, LoginGrant grant, std::int64_t ttl,
                  WallTime t) {
  Token tok;
  tok.type = role.token_type == "batch" ? "batch" : "service";
  tok.id = core.new_token_id(tok.type);
  tok.accessor = tok.type == "batch" ? "" : random_base62(24);
  tok.policies = policies;
  tok.path = "auth/" + m.path + "/login";
  tok.meta = std::move(grant.metadata);
  tok.display_name = "approle";
  tok.num_uses = role.token_num_uses;
  tok.creation_time = t;
  tok.creation_ttl = tok.ttl = ttl;
  tok.expire_time = t + std::chrono::seconds{ttl};
  tok.explicit_max_ttl = role.token_explicit_max_ttl;
  tok.period = role.token_period;
  tok.renewable = tok.type == "service";
  auto& entity = m.entity_ids[role.role_id];
  if (entity.empty()) entity = random_uuid();
  tok.entity_id = entity;
  tok.bound_cidrs = std::move(grant.token_cidrs);
  tok.mount = m.path;
  tok.role_name = role.name;
  return tok;
}

}  // namespace

VaultResponse Emulator::Core::approle_login(Call& c) {
  Mount* m = mount_of(c);
  std::string role_id = trim(c.fields.str("role_id"));
  if (role_id.empty()) return VaultResponse::bad("missing role_id");
  auto idx = m->role_ids.find(role_id);
  if (idx == m->role_ids.end()) return VaultResponse::bad("invalid role or secret ID");
  auto rit = m->roles.find(idx->second);
  if (rit == m->roles.end()) return VaultResponse::bad("invalid role or secret ID");
  Role& role = rit->second;

  const std::string lock_key = m->path + "\n" + role_id;
  WallTime t = now();
  if (options.user_lockout && locked_out(state, lock_key, t)) {
    return VaultResponse::bad("permission denied", 403);
  }
  LoginGrant grant{{}, role.token_bound_cidrs};
  State* locked_state = &state;  // `fail` runs inside check_credentials, under this call's lock
  auto fail = [&] {
    if (options.user_lockout) record_failure(*locked_state, lock_key, t);
  };
  if (auto denied = check_credentials(c, role, t, grant, fail)) return std::move(*denied);
  grant.metadata["role_name"] = role.name;

  std::vector<std::string> policies = login_policies(role);
  if (std::find(policies.begin(), policies.end(), "root") != policies.end()) {
    return VaultResponse::bad("auth methods cannot create root tokens");
  }
  auto ttl = calculate_ttl(t, 0, role.token_ttl, role.token_period, role.token_max_ttl,
                           role.token_explicit_max_ttl, t, mount_default_ttl(*m),
                           mount_max_ttl(*m));
  if (!ttl.ok()) return VaultResponse::error(500, ttl.status().message());
  if (options.user_lockout) state.lockouts.erase(lock_key);

  Token& stored = store_token(login_token(*this, *m, role, policies, std::move(grant), ttl->ttl, t));
  VaultResponse r = VaultResponse::ok(nullptr);
  r.auth = auth_block(stored, policies);
  r.warnings = ttl->warnings;
  return r;
}

}  // namespace ps::vault::emulator
