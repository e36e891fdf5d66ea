// The sidecar's one configuration file (--config FILE), JSON.
//
//   {
//     "ledger": { "path": "/opt/agent-governance/ledger/governance.db", "busy_timeout_ms": 5000 },
//     "rules":  { "1": { "min_compliant_runs": 20 } }
//   }
//
// JSON with // and /* */ comments allowed. Every section is optional. Unknown keys and wrong types are refused, naming the key path
// (`config: ledger.busy_timeout_ms: must be a non-negative integer`). The rules section's
// format and merge semantics are engine/rules/rules_config.h's.
//
// Adding a section: a member in Config and an entry in the section table in config.cpp (its
// parser validates the section and fills the member).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "engine/rules/rules.h"
#include "engine/base/status.h"
#include "sidecar/config/config_serve.h"  // listener, webhook, api, log, audit, evaluate, health, shutdown
#include "sidecar/config/config_sync.h"   // vault, roles, sync, reconcile
#include "sidecar/config/revocation_config.h"
#include "sidecar/config/sync_settings.h"
#include "vault/config.h"

namespace ps::sidecar {

inline constexpr std::int64_t kDefaultBusyTimeoutMs = 5000;

struct LedgerConfig {
  std::optional<std::string> path;  // --db and POLICY_SIDECAR_DB take precedence
  std::int64_t busy_timeout_ms = kDefaultBusyTimeoutMs;
  // serve only: "keep" leaves the file's journal mode alone; "wal" switches the ledger to
  // write-ahead logging at start (README "Daemon (serve)": one fsync per commit).
  std::string journal_mode = "keep";
  // Threads stepping the all-agents scan (eligible, periodic evaluation): 0 = one per CPU, at
  // most 4; 1 = none (engine::LedgerOptions::scan_threads).
  unsigned scan_threads = 0;
};

struct Config {
  LedgerConfig ledger;
  engine::Rules rules = engine::Rules::defaults();
  // serve: sidecar/config/config_serve.h
  ListenerConfig listener;
  WebhookConfig webhook;
  ApiConfig api;
  LogConfig log;
  AuditConfig audit;
  EvaluateConfig evaluate;
  HealthConfig health;
  ShutdownConfig shutdown;
  RetentionConfig retention;
  // Vault sync: sidecar/config/config_sync.h; VAULT_* apply over `vault`
  // (sidecar/config/vault_setup.h)
  vault::VaultConfig vault = default_vault_config();
  RolesConfig roles;
  SyncConfig sync;
  ReconcileConfig reconcile;
  RevocationConfig revocation;  // sidecar/config/revocation_config.h
};

// Parses a config document. Errors are invalid_argument, message starting "config: ".
// `source` names the document in syntax errors (usually the file path).
Result<Config> parse_config(std::string_view text, std::string_view source);

// Reads and parses a config file.
Result<Config> load_config_file(const std::string& path);

}  // namespace ps::sidecar
