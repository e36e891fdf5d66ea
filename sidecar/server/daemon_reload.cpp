// SIGHUP: check everything that can fail, then apply (see daemon.h).
#include <chrono>

#include "sidecar/server/daemon_state.h"

namespace ps::sidecar::server {
namespace {

// Keys whose new values need a restart: named in a warning, the old values stay in effect.
std::vector<std::string> restart_only_changes(const Config& old_c, const Config& new_c) {
  std::vector<std::string> keys;
  auto check = [&](bool changed, const char* key) {
    if (changed) keys.emplace_back(key);
  };
  const auto& ol = old_c.listener;
  const auto& nl = new_c.listener;
  check(ol.address != nl.address, "listener.address");
  check(ol.tls_disable != nl.tls_disable, "listener.tls_disable");
  check(ol.max_request_bytes != nl.max_request_bytes, "listener.max_request_bytes");
  check(ol.read_timeout_s != nl.read_timeout_s, "listener.read_timeout_s");
  check(ol.idle_timeout_s != nl.idle_timeout_s, "listener.idle_timeout_s");
  check(old_c.ledger.path != new_c.ledger.path, "ledger.path");
  check(old_c.ledger.busy_timeout_ms != new_c.ledger.busy_timeout_ms, "ledger.busy_timeout_ms");
  check(old_c.ledger.journal_mode != new_c.ledger.journal_mode, "ledger.journal_mode");
  check(old_c.ledger.scan_threads != new_c.ledger.scan_threads, "ledger.scan_threads");
  check(old_c.audit.path != new_c.audit.path, "audit.path");
  check(old_c.health.outbox_stuck_s != new_c.health.outbox_stuck_s, "health.outbox_stuck_s");
  const auto& ov = old_c.vault;
  const auto& nv = new_c.vault;
  check(ov.address != nv.address, "vault.address");
  check(ov.vault_namespace != nv.vault_namespace, "vault.namespace");
  check(ov.mount != nv.mount, "vault.mount");
  check(ov.auth.method != nv.auth.method || ov.auth.token_file != nv.auth.token_file ||
            ov.auth.role_id_file != nv.auth.role_id_file ||
            ov.auth.secret_id_file != nv.auth.secret_id_file || !(ov.auth.token == nv.auth.token),
        "vault.auth");
  check(ov.request_timeout != nv.request_timeout || ov.connect_timeout != nv.connect_timeout,
        "vault timeouts");
  check(old_c.sync.rate_limit_per_s != new_c.sync.rate_limit_per_s, "sync.rate_limit_per_s");
  return keys;
}

}  // namespace

void Daemon::reload() {
  State& s = *s_;
  Logger& log = *s.log;
  if (Status n = s.notifier->reloading(); !n.ok()) log.warn("systemd.notify", n.message());
  const auto old_config = s.current_config();

  auto reject = [&](const std::string& why) {
    s.metrics->reloads.inc({"rejected"});
    log.error("reload.rejected", "reload rejected; the running configuration stays: " + why,
              {{"config", s.env.config_path}});
    (void)s.notifier->ready("serving (reload rejected)");
  };

  // 1. Everything that can fail, without changing anything.
  auto parsed = load_config_file(s.env.config_path);
  if (!parsed.ok()) return reject(parsed.status().message());
  Config next = std::move(parsed).value();
  if (Status v = validate_serve_config(next); !v.ok()) return reject(v.message());
  auto settings = load_serve_settings(next);
  if (!settings.ok()) return reject(settings.status().message());
  auto desired = DesiredState::create(next.roles, s.vault->config().mount);
  if (!desired.ok()) return reject(desired.status().message());
  const tls::ServerConfig server_tls{next.listener.tls_cert, next.listener.tls_key,
                                     next.listener.tls_client_ca};
  if (s.server_tls && !next.listener.tls_disable) {
    auto checked = tls::ServerTls::create(server_tls, {});
    if (!checked.ok()) return reject("listener TLS: " + checked.status().message());
  }
  auto vault_config = effective_vault_config(next.vault, s.env.vault_env);
  if (!vault_config.ok()) return reject(vault_config.status().message());
  const auto& client_tls = s.vault->connection().factory->tls();
  if (client_tls) {
    auto checked = tls::ClientTls::create(vault_config->tls, {});
    if (!checked.ok()) return reject("vault TLS: " + checked.status().message());
  }
  auto group = s.make_group(next);
  if (!group.ok()) return reject(group.status().message());

  // 2. Apply. The checks above make the reloads below succeed unless a file changes again in
  // between; then that part keeps its old material and says so.
  if (s.server_tls && !next.listener.tls_disable) {
    Status reloaded = s.server_tls->reload(server_tls);
    if (!reloaded.ok()) log.error("reload.listener_tls", reloaded.message());
  }
  if (client_tls) {
    Status reloaded = client_tls->reload(vault_config->tls);
    if (!reloaded.ok()) log.error("reload.vault_tls", reloaded.message());
  }
  s.log->set_level(next.log.level);
  s.log->set_format(next.log.format);
  s.settings->set(*settings);
  if (Status a = s.audit->reopen(); !a.ok()) log.error("reload.audit", a.message());

  // The old worker finishes its push and releases its claims before the new one starts, so
  // two workers of this process (same lease owner) never hold the same row. Approvals
  // committed in between stay pending and are the new worker's first pass.
  std::shared_ptr<SyncGroup> old_group = s.current_group();
  s.stop_group(*old_group, s.env.clock.steady_now() + std::chrono::seconds(30));
  s.start_group(**group);
  {
    std::lock_guard<std::mutex> lock(s.group_mu);
    s.group = *group;
  }
  s.tier_changes->set_desired((*group)->desired);
  if (s.detached.load()) {
    // A thread of the old group is still running: keep its objects alive.
    static std::vector<std::shared_ptr<SyncGroup>> graveyard;
    graveyard.push_back(old_group);
  }

  const auto restart_only = restart_only_changes(*old_config, next);
  // Keep what cannot change live at its running value, so the next diff is against it.
  Config effective = next;
  effective.listener.address = old_config->listener.address;
  effective.listener.tls_disable = old_config->listener.tls_disable;
  effective.listener.max_request_bytes = old_config->listener.max_request_bytes;
  effective.listener.read_timeout_s = old_config->listener.read_timeout_s;
  effective.listener.idle_timeout_s = old_config->listener.idle_timeout_s;
  effective.ledger = old_config->ledger;
  effective.audit = old_config->audit;
  effective.health = old_config->health;
  effective.vault = old_config->vault;
  effective.vault.tls = next.vault.tls;
  effective.sync.rate_limit_per_s = old_config->sync.rate_limit_per_s;
  {
    std::lock_guard<std::mutex> lock(s.config_mu);
    s.config = std::make_shared<const Config>(std::move(effective));
  }
  if (!restart_only.empty()) {
    std::string keys;
    for (const auto& k : restart_only) keys += (keys.empty() ? "" : ", ") + k;
    log.warn("reload.restart_needed", "changed settings that take effect only after a restart: " + keys);
  }
  s.metrics->reloads.inc({"ok"});
  log.info("reload.done", "configuration reloaded",
           {{"config", s.env.config_path}, {"log_level", log_level_name(next.log.level)}});
  (void)s.notifier->ready("serving (reloaded)");
}

}  // namespace ps::sidecar::server
