// The settings of Vault sync: the config file's `roles`, `sync` and `reconcile` sections as
// values (parsed by sidecar/config_sync.cpp; keys and defaults in README "Vault sync").
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ps::sidecar {

// What to do about an agent whose AppRole role does not exist in Vault.
enum class MissingRole {
  report,  // park the push / report the drift; a person creates the role
  create,  // create it with the desired token_policies (the sidecar's token needs `create`)
};
std::string_view to_string(MissingRole mode);
std::optional<MissingRole> missing_role_from(std::string_view text);

enum class DriftMode {
  ignore,   // do not compare roles (parked pushes are still retried)
  detect,   // record, count and log every difference; change nothing
  correct,  // as detect, and repair through the outbox (a new generation)
};
std::string_view to_string(DriftMode mode);
std::optional<DriftMode> drift_mode_from(std::string_view text);

// What a role gets when the sidecar creates it (roles.missing_role = create): short-lived
// credentials, so a demoted agent's old tokens also run out soon when token revocation is off.
struct RoleCreateConfig {
  std::int64_t token_ttl_s = 3600;         // 1 h
  std::int64_t token_max_ttl_s = 14400;    // 4 h
  std::int64_t secret_id_ttl_s = 86400;    // 24 h
  std::int64_t secret_id_num_uses = 0;     // 0 = unlimited within its TTL
  std::vector<std::string> token_bound_cidrs;
  std::string token_type = "service";      // service | batch | default
};

struct RolesConfig {
  std::string name_template = "agent-{agent_id}";
  // Tier -> Vault policy names. Every tier 0..4 has an entry (possibly empty).
  std::map<std::int64_t, std::vector<std::string>> tier_policies = {
      {0, {"t0-observer"}}, {1, {"t1-observer"}}, {2, {"t2-observer"}},
      {3, {"t3-observer"}}, {4, {"t4-observer"}}};
  // true: the sidecar owns the whole token_policies list (unmanaged policies are removed).
  bool exclusive = false;
  MissingRole missing_role = MissingRole::report;
  RoleCreateConfig create;
  // Reconcile reports managed roles whose tokens may live longer than this (token_max_ttl, or
  // token_ttl, or Vault's mount default of 768 h when neither is set); 0 = no check.
  std::int64_t max_token_ttl_s = 86400;
};

struct SyncConfig {
  std::int64_t batch_size = 100;       // rows claimed (and marked) per ledger transaction
  // Sync workers in serve and `sync`, each with its own Vault connection and a share of the
  // agents (no agent is worked by two at once); they absorb Vault's write latency.
  std::int64_t workers = 4;
  double rate_limit_per_s = 500;       // Vault requests per second, all workers; 0 = unlimited
  std::chrono::milliseconds poll_interval{1000};  // how often the daemon looks for due rows
  // Per-agent retry schedule (full jitter) and the global pause when Vault is down (half
  // fixed, half random, so the probe rate has a floor).
  std::chrono::milliseconds backoff_initial{1000};
  double backoff_multiplier = 2.0;
  std::chrono::milliseconds backoff_max{300000};
  // How long a claimed row stays leased to a worker that neither finishes nor dies.
  std::chrono::milliseconds lease{std::chrono::minutes{5}};
};

struct ReconcileConfig {
  double interval_s = 300;   // between scheduled passes; 0 = only at start and on demand
  double jitter = 0.1;       // +- this fraction of the interval
  DriftMode drift_mode = DriftMode::detect;
  std::int64_t page_size = 500;
  std::int64_t concurrency = 4;  // Vault reads in flight (one connection each)
  // Roles in the managed mount that fit the name template but belong to no ledger agent lose
  // their managed tier policies in every mode but ignore; deleting them is opt-in.
  bool delete_orphan_roles = false;
};

}  // namespace ps::sidecar
