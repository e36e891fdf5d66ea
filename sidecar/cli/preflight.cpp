#include "sidecar/cli/preflight.h"

#include <algorithm>

#include "engine/ledger/ledger.h"
#include "engine/ledger/ledger_migrations.h"
#include "sidecar/config/settings.h"
#include "sidecar/config/vault_setup.h"
#include "sidecar/sync/desired_state.h"
#include "tls/tls.h"
#include "vault/paths.h"

namespace ps::sidecar {
namespace {

using Level = CheckItem::Level;

CheckItem item(std::string name, const Status& s, std::string ok_detail) {
  if (!s.ok()) return {std::move(name), Level::fail, s.message()};
  return {std::move(name), Level::ok, std::move(ok_detail)};
}

CheckItem check_secret_files(const Config& config) {
  auto settings = load_serve_settings(config);
  if (!settings.ok()) return item("secret-files", settings.status(), "");
  return {"secret-files", Level::ok,
          "webhook secrets: " + std::to_string((*settings)->webhook_secrets.size()) +
              "; API token: " + ((*settings)->api_token.empty() ? "not set (API disabled)" : "set")};
}

CheckItem check_listener_tls(const Config& config) {
  if (config.listener.tls_disable) return {"listener-tls", Level::ok, "plain HTTP (loopback only)"};
  auto tls = tls::ServerTls::create(
      {config.listener.tls_cert, config.listener.tls_key, config.listener.tls_client_ca}, {});
  return item("listener-tls", tls.status(), "certificate and key load");
}

CheckItem check_vault_config(const Config& config, const CliEnvironment& env) {
  auto cfg = effective_vault_config(
      config.vault, [&env](const char* name) { return env.getenv(name); });
  if (!cfg.ok()) return item("vault-config", cfg.status(), "");
  const auto& auth = cfg->auth;
  std::string detail = std::string(vault::to_string(auth.method)) + " from " + auth.source +
                       "; managed mount auth/" + cfg->mount;
  if (auth.method == vault::AuthMethod::approle) {
    if (auth.mount == cfg->mount) {
      return {"vault-config", Level::fail,
              "vault.auth.mount and vault.mount are both \"" + cfg->mount +
                  "\": the grant on the agents' roles would cover the sidecar's own role; log "
                  "in through another AppRole mount"};
    }
    detail += "; login mount auth/" + auth.mount;
  }
  if (auth.vault_token_ignored) detail += "; VAULT_TOKEN set but not used";
  return {"vault-config", Level::ok, detail};
}

CheckItem check_ledger(const std::string& db_path, const Config& config) {
  auto ledger = engine::Ledger::open({db_path, config.ledger.busy_timeout_ms, true, 1});
  if (!ledger.ok()) return item("ledger", ledger.status(), "");
  if (Status s = (*ledger)->check_schema_not_newer(); !s.ok()) return item("ledger", s, "");
  auto version = (*ledger)->schema_version();
  if (!version.ok()) return item("ledger", version.status(), "");
  const int latest = engine::ledger_migrations().back().version;
  if (*version < latest) {
    return {"ledger", Level::warn,
            db_path + ": schema version " + std::to_string(*version) + ", " +
                std::to_string(latest - *version) +
                " migration(s) pending (serve and write commands apply them)"};
  }
  return {"ledger", Level::ok, db_path + ": schema version " + std::to_string(*version)};
}

vault::paths::Usage usage_of(const Config& config) {
  vault::paths::Usage u;
  u.create_roles = config.roles.missing_role == MissingRole::create;
  u.destroy_secret_ids = config.revocation.destroy_secret_ids;
  u.revoke_tokens = config.revocation.revoke_tokens;
  u.delete_orphan_roles = config.reconcile.delete_orphan_roles;
  for (const auto& [tier, names] : config.roles.tier_policies) {
    for (const auto& n : names) u.tier_policies.push_back(n);
  }
  std::sort(u.tier_policies.begin(), u.tier_policies.end());
  u.tier_policies.erase(std::unique(u.tier_policies.begin(), u.tier_policies.end()),
                        u.tier_policies.end());
  return u;
}

CheckItem check_health(vault::VaultApi& api) {
  auto h = api.health();
  if (!h) return {"vault", Level::fail, h.error().describe()};
  if (!h->initialized) return {"vault", Level::fail, "not initialized"};
  if (h->sealed) return {"vault", Level::fail, "sealed"};
  if (h->standby) return {"vault", Level::warn, "a standby node (requests are forwarded)"};
  return {"vault", Level::ok, "active, unsealed (version " + h->version + ")"};
}

CheckItem check_token(VaultSetup& setup) {
  auto grant = setup.auth().current_token();
  if (!grant) return {"token", Level::fail, grant.error().describe()};
  const vault::TokenStatus t = setup.auth().status();
  if (!t.ttl_known || !t.expires) return {"token", Level::ok, "valid, does not expire"};
  return {"token", t.ttl.count() < 600 ? Level::warn : Level::ok,
          "valid, " + std::to_string(t.ttl.count()) + " s left" +
              (t.renewable ? " (renewable)" : " (not renewable)")};
}

// Every path the configuration will use, with the capabilities it needs.
std::vector<CheckItem> check_capabilities(vault::VaultApi& api, const Config& config) {
  auto mount = vault::MountPath::parse(config.vault.mount);
  auto desired = DesiredState::create(config.roles, config.vault.mount);
  if (!mount || !desired.ok()) return {};
  auto role = desired.value()->namer().role_for("preflight-check");
  if (!role) return {};
  const auto needs = vault::paths::needs(*mount, *role, usage_of(config));
  std::vector<std::string> paths;
  for (const auto& n : needs) paths.push_back(n.path);
  auto have = api.capabilities_self(paths);
  if (!have) return {{"capabilities", Level::fail, have.error().describe()}};
  std::vector<CheckItem> out;
  for (const auto& n : needs) {
    const auto& caps = (*have)[n.path];
    const bool root = std::count(caps.begin(), caps.end(), "root") > 0;
    std::string missing;
    for (const auto& c : n.capabilities) {
      if (!root && std::count(caps.begin(), caps.end(), c) == 0) missing += (missing.empty() ? "" : ", ") + c;
    }
    if (!missing.empty()) {
      out.push_back({"capabilities", Level::fail,
                     n.path + ": missing " + missing + " (needed to " + n.why + ")"});
    }
  }
  if (out.empty()) {
    out.push_back({"capabilities", Level::ok, std::to_string(needs.size()) + " paths allowed"});
  }
  return out;
}

std::vector<CheckItem> check_tier_policies(vault::VaultApi& api, const Config& config) {
  std::vector<CheckItem> out;
  for (const auto& name : usage_of(config).tier_policies) {
    auto exists = api.policy_exists(name);
    if (!exists) {
      out.push_back({"tier-policies", Level::fail, name + ": " + exists.error().describe()});
    } else if (!*exists) {
      out.push_back({"tier-policies", Level::fail, name + ": no such ACL policy in Vault"});
    }
  }
  if (out.empty()) out.push_back({"tier-policies", Level::ok, "every tier policy exists"});
  return out;
}

std::vector<CheckItem> check_vault(const PreflightInput& in) {
  auto cfg = effective_vault_config(in.config.vault,
                                    [&in](const char* name) { return in.env.getenv(name); });
  if (!cfg.ok()) return {};  // reported by vault-config
  Logger quiet([](std::string_view) {}, in.env.clock, LogLevel::error);
  auto setup = VaultSetup::open(*cfg, in.env.clock,
                                in.env.random ? in.env.random : make_real_random(), quiet);
  if (!setup.ok()) return {item("vault", setup.status(), "")};
  auto api = (*setup)->single_attempt_api();
  std::vector<CheckItem> out = {check_health(*api)};
  if (out.back().level == Level::fail) return out;
  out.push_back(check_token(**setup));
  if (out.back().level == Level::fail) return out;
  for (auto& c : check_capabilities(*api, in.config)) out.push_back(std::move(c));
  for (auto& c : check_tier_policies(*api, in.config)) out.push_back(std::move(c));
  return out;
}

}  // namespace

const char* to_string(CheckItem::Level level) {
  switch (level) {
    case Level::ok: return "ok";
    case Level::warn: return "warn";
    case Level::fail: return "fail";
  }
  return "fail";
}

std::vector<CheckItem> run_preflight(const PreflightInput& in) {
  std::vector<CheckItem> out = {
      item("serve-config", validate_serve_config(in.config), "listener settings usable"),
      check_secret_files(in.config),
      check_listener_tls(in.config),
      item("roles", DesiredState::create(in.config.roles, in.config.vault.mount).status(),
           "template \"" + in.config.roles.name_template + "\""),
      check_vault_config(in.config, in.env),
      check_ledger(in.db_path, in.config),
  };
  if (in.offline) return out;
  for (auto& c : check_vault(in)) out.push_back(std::move(c));
  return out;
}

Result<std::string> sidecar_policy_hcl(const Config& config) {
  auto mount = vault::MountPath::parse(config.vault.mount);
  if (!mount) return Status(Code::invalid_argument, "vault.mount: " + mount.error().message);
  return vault::paths::policy_hcl(*mount, usage_of(config));
}

}  // namespace ps::sidecar
