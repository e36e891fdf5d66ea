// Parsers of the config sections vault, roles, sync and reconcile (see config_sync.h).
#include "sidecar/config/config_sync.h"

#include <cmath>
#include <limits>

#include "engine/rules/rules_config.h"  // config_key_path
#include "sidecar/config/config.h"
#include "sidecar/config/config_read.h"

namespace ps::sidecar {
namespace {

using namespace config_read;

Status parse_retry(const json& section, const std::string& path, vault::BackoffPolicy& retry) {
  if (Status s = require_object(section, path); !s.ok()) return s;
  for (const auto& [key, value] : section.items()) {
    const std::string p = key_path(path, key);
    Status s;
    if (key == "initial_ms") {
      s = read_ms(value, p, retry.initial, 1);
    } else if (key == "multiplier") {
      s = read_number(value, p, retry.multiplier, 1.0, 100.0);
    } else if (key == "max_ms") {
      s = read_ms(value, p, retry.cap, 1);
    } else if (key == "max_total_s") {
      s = read_seconds(value, p, retry.max_total, 0);
    } else {
      s = unknown(p, "initial_ms, multiplier, max_ms, max_total_s");
    }
    if (!s.ok()) return s;
  }
  return Status::success();
}

Status parse_auth(const json& section, const std::string& path, vault::AuthConfig& auth) {
  if (Status s = require_object(section, path); !s.ok()) return s;
  for (const auto& [key, value] : section.items()) {
    const std::string p = key_path(path, key);
    Status s;
    if (key == "method") {
      std::string m;
      s = read_string(value, p, m);
      if (s.ok()) {
        if (m == "token") {
          auth.method = vault::AuthMethod::token;
        } else if (m == "token_file") {
          auth.method = vault::AuthMethod::token_file;
        } else if (m == "approle") {
          auth.method = vault::AuthMethod::approle;
        } else {
          s = invalid(p, "must be one of token, token_file, approle");
        }
      }
    } else if (key == "token_file") {
      s = read_string(value, p, auth.token_file);
    } else if (key == "role_id_file") {
      s = read_string(value, p, auth.role_id_file);
    } else if (key == "secret_id_file") {
      s = read_string(value, p, auth.secret_id_file);
    } else if (key == "mount") {
      s = read_string(value, p, auth.mount, false);
    } else if (key == "vault_token_overrides") {
      s = read_bool(value, p, auth.vault_token_overrides);
    } else if (key == "token") {
      s = invalid(p, "a token never goes into the config file: use VAULT_TOKEN, or method "
                     "token_file");
    } else {
      s = unknown(p, "method, mount, token_file, role_id_file, secret_id_file, "
                     "vault_token_overrides");
    }
    if (!s.ok()) return s;
  }
  auth.source = "config";
  return Status::success();
}

}  // namespace

vault::VaultConfig default_vault_config() {
  vault::VaultConfig c;
  c.retry.initial = std::chrono::milliseconds{1000};
  c.retry.multiplier = 2.0;
  c.retry.cap = std::chrono::milliseconds{300000};
  c.retry.max_total = std::chrono::milliseconds{0};
  c.retry.max_attempts = 3;  // vault.max_retries 2
  c.auth.require_private_files = true;
  return c;
}

Status parse_vault_section(const json& section, const std::string& path, Config& config) {
  if (Status s = require_object(section, path); !s.ok()) return s;
  vault::VaultConfig& v = config.vault;
  for (const auto& [key, value] : section.items()) {
    const std::string p = key_path(path, key);
    Status s;
    if (key == "address") {
      s = read_string(value, p, v.address, false);
    } else if (key == "ca_cert") {
      s = read_string(value, p, v.tls.ca_file);
    } else if (key == "ca_path") {
      s = read_string(value, p, v.tls.ca_dir);
    } else if (key == "client_cert") {
      s = read_string(value, p, v.tls.cert_file);
    } else if (key == "client_key") {
      s = read_string(value, p, v.tls.key_file);
    } else if (key == "tls_server_name") {
      s = read_string(value, p, v.tls.server_name);
    } else if (key == "tls_skip_verify") {
      s = read_bool(value, p, v.tls.skip_verify);
    } else if (key == "namespace") {
      s = read_string(value, p, v.vault_namespace);
    } else if (key == "mount") {
      s = read_string(value, p, v.mount, false);
    } else if (key == "timeout_s") {
      s = read_seconds(value, p, v.request_timeout, 0.001);
    } else if (key == "connect_timeout_s") {
      s = read_seconds(value, p, v.connect_timeout, 0.001);
    } else if (key == "max_retries") {
      std::int64_t n = 0;
      s = read_int(value, p, n, 0, 1000);
      if (s.ok()) v.retry.max_attempts = static_cast<unsigned>(n + 1);
    } else if (key == "retry") {
      s = parse_retry(value, p, v.retry);
    } else if (key == "auth") {
      s = parse_auth(value, p, v.auth);
    } else if (key == "allow_plaintext_loopback") {
      s = read_bool(value, p, v.allow_plaintext_loopback);
    } else {
      s = unknown(p, "address, ca_cert, ca_path, client_cert, client_key, tls_server_name, "
                     "tls_skip_verify, namespace, mount, timeout_s, connect_timeout_s, "
                     "max_retries, retry, auth, allow_plaintext_loopback");
    }
    if (!s.ok()) return s;
  }
  return Status::success();
}

Status parse_role_create(const json& section, const std::string& path, RoleCreateConfig& c) {
  if (Status s = require_object(section, path); !s.ok()) return s;
  for (const auto& [key, value] : section.items()) {
    const std::string p = key_path(path, key);
    Status s;
    if (key == "token_ttl_s") {
      s = read_int(value, p, c.token_ttl_s, 0);
    } else if (key == "token_max_ttl_s") {
      s = read_int(value, p, c.token_max_ttl_s, 0);
    } else if (key == "secret_id_ttl_s") {
      s = read_int(value, p, c.secret_id_ttl_s, 0);
    } else if (key == "secret_id_num_uses") {
      s = read_int(value, p, c.secret_id_num_uses, 0);
    } else if (key == "token_type") {
      s = read_string(value, p, c.token_type);
      if (s.ok() && c.token_type != "service" && c.token_type != "batch" &&
          c.token_type != "default") {
        s = invalid(p, "must be service, batch or default");
      }
    } else if (key == "token_bound_cidrs") {
      c.token_bound_cidrs.clear();
      if (!value.is_array()) s = invalid(p, "must be a list of CIDR blocks");
      for (std::size_t i = 0; s.ok() && i < value.size(); ++i) {
        if (!value[i].is_string() || value[i].get<std::string>().empty()) {
          s = invalid(p + "[" + std::to_string(i) + "]", "must be a CIDR block");
        } else {
          c.token_bound_cidrs.push_back(value[i].get<std::string>());
        }
      }
    } else {
      s = unknown(p, "token_ttl_s, token_max_ttl_s, secret_id_ttl_s, secret_id_num_uses, "
                     "token_bound_cidrs, token_type");
    }
    if (!s.ok()) return s;
  }
  if (c.token_max_ttl_s > 0 && c.token_ttl_s > c.token_max_ttl_s) {
    return invalid(path + ".token_ttl_s", "cannot be greater than token_max_ttl_s");
  }
  return Status::success();
}

Status parse_roles_section(const json& section, const std::string& path, Config& config) {
  if (Status s = require_object(section, path); !s.ok()) return s;
  RolesConfig& r = config.roles;
  for (const auto& [key, value] : section.items()) {
    const std::string p = key_path(path, key);
    Status s;
    if (key == "name_template") {
      s = read_string(value, p, r.name_template, false);
    } else if (key == "exclusive") {
      s = read_bool(value, p, r.exclusive);
    } else if (key == "missing_role") {
      std::string m;
      s = read_string(value, p, m);
      if (s.ok()) {
        auto mode = missing_role_from(m);
        if (!mode) {
          s = invalid(p, "must be report or create");
        } else {
          r.missing_role = *mode;
        }
      }
    } else if (key == "tier_policies") {
      // Replaces the whole map: every tier 0..4 must be listed (checked when the desired
      // state is built, where the message names the missing tier).
      if (!value.is_object()) {
        s = invalid(p, "must be an object mapping tiers \"0\"..\"4\" to lists of policy names");
      } else {
        r.tier_policies.clear();
        for (const auto& [tier, list] : value.items()) {
          const std::string tp = key_path(p, tier);
          if (tier.size() != 1 || tier[0] < '0' || tier[0] > '4') {
            s = invalid(tp, "unknown tier (tiers are \"0\"..\"4\")");
            break;
          }
          if (!list.is_array()) {
            s = invalid(tp, "must be a list of policy names");
            break;
          }
          std::vector<std::string> names;
          for (std::size_t i = 0; i < list.size() && s.ok(); ++i) {
            if (!list[i].is_string()) {
              s = invalid(tp + "[" + std::to_string(i) + "]", "must be a string");
            } else {
              names.push_back(list[i].get<std::string>());
            }
          }
          if (!s.ok()) break;
          r.tier_policies[tier[0] - '0'] = std::move(names);
        }
      }
    } else if (key == "create") {
      s = parse_role_create(value, p, r.create);
    } else if (key == "max_token_ttl_s") {
      s = read_int(value, p, r.max_token_ttl_s, 0);
    } else {
      s = unknown(p, "name_template, tier_policies, exclusive, missing_role, create, "
                     "max_token_ttl_s");
    }
    if (!s.ok()) return s;
  }
  return Status::success();
}

Status parse_sync_section(const json& section, const std::string& path, Config& config) {
  if (Status s = require_object(section, path); !s.ok()) return s;
  SyncConfig& c = config.sync;
  for (const auto& [key, value] : section.items()) {
    const std::string p = key_path(path, key);
    Status s;
    if (key == "batch_size") {
      s = read_int(value, p, c.batch_size, 1, 10000);
    } else if (key == "workers") {
      s = read_int(value, p, c.workers, 1, 64);
    } else if (key == "rate_limit_per_s") {
      s = read_number(value, p, c.rate_limit_per_s, 0);
    } else if (key == "poll_interval_ms") {
      s = read_ms(value, p, c.poll_interval, 1);
    } else if (key == "lease_s") {
      s = read_seconds(value, p, c.lease, 1);
    } else if (key == "backoff") {
      s = require_object(value, p);
      for (auto it = value.begin(); s.ok() && it != value.end(); ++it) {
        const std::string bp = key_path(p, it.key());
        if (it.key() == "initial_ms") {
          s = read_ms(it.value(), bp, c.backoff_initial, 1);
        } else if (it.key() == "multiplier") {
          s = read_number(it.value(), bp, c.backoff_multiplier, 1.0, 100.0);
        } else if (it.key() == "max_ms") {
          s = read_ms(it.value(), bp, c.backoff_max, 1);
        } else {
          s = unknown(bp, "initial_ms, multiplier, max_ms");
        }
      }
    } else {
      s = unknown(p, "batch_size, workers, rate_limit_per_s, poll_interval_ms, lease_s, backoff");
    }
    if (!s.ok()) return s;
  }
  if (c.backoff_max < c.backoff_initial) {
    return invalid(key_path(path, "backoff"), "max_ms must not be below initial_ms");
  }
  return Status::success();
}

Status parse_reconcile_section(const json& section, const std::string& path, Config& config) {
  if (Status s = require_object(section, path); !s.ok()) return s;
  ReconcileConfig& c = config.reconcile;
  for (const auto& [key, value] : section.items()) {
    const std::string p = key_path(path, key);
    Status s;
    if (key == "interval_s") {
      s = read_number(value, p, c.interval_s, 0, 1e7);
    } else if (key == "jitter") {
      s = read_number(value, p, c.jitter, 0, 0.9);
    } else if (key == "drift_mode") {
      std::string m;
      s = read_string(value, p, m);
      if (s.ok()) {
        auto mode = drift_mode_from(m);
        if (!mode) {
          s = invalid(p, "must be ignore, detect or correct");
        } else {
          c.drift_mode = *mode;
        }
      }
    } else if (key == "page_size") {
      s = read_int(value, p, c.page_size, 1, 100000);
    } else if (key == "concurrency") {
      s = read_int(value, p, c.concurrency, 1, 64);
    } else if (key == "delete_orphan_roles") {
      s = read_bool(value, p, c.delete_orphan_roles);
    } else {
      s = unknown(p, "interval_s, jitter, drift_mode, page_size, concurrency, delete_orphan_roles");
    }
    if (!s.ok()) return s;
  }
  return Status::success();
}

}  // namespace ps::sidecar
