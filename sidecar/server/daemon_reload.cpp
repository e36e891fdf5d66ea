// SIGHUP: check everything that can fail, then apply (see daemon.h).
#include <chrono>

#include "engine/base/mutex.h"

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
  check(ol.head_timeout_s != nl.head_timeout_s, "listener.head_timeout_s");
  check(ol.request_timeout_s != nl.request_timeout_s, "listener.request_timeout_s");
  check(ol.max_header_bytes != nl.max_header_bytes, "listener.max_header_bytes");
  check(ol.max_headers != nl.max_headers, "listener.max_headers");
  check(ol.max_connections != nl.max_connections, "listener.max_connections");
  check(ol.max_connections_per_peer != nl.max_connections_per_peer, "listener.max_connections_per_peer");
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

// Everything a reload needs, checked before anything changes.
struct Daemon::ReloadPlan {
  Config next;
  std::shared_ptr<const ServeSettings> settings;
  tls::ServerConfig server_tls;
  vault::VaultConfig vault_config;
  std::shared_ptr<SyncGroup> group;
};

namespace {

// Keeps what cannot change live at its running value, so the next diff is against it.
Config effective_config(const Config& running, const Config& next) {
  Config effective = next;
  effective.listener.address = running.listener.address;
  effective.listener.tls_disable = running.listener.tls_disable;
  effective.listener.max_request_bytes = running.listener.max_request_bytes;
  effective.listener.read_timeout_s = running.listener.read_timeout_s;
  effective.listener.idle_timeout_s = running.listener.idle_timeout_s;
  effective.listener.head_timeout_s = running.listener.head_timeout_s;
  effective.listener.request_timeout_s = running.listener.request_timeout_s;
  effective.listener.max_header_bytes = running.listener.max_header_bytes;
  effective.listener.max_headers = running.listener.max_headers;
  effective.listener.max_connections = running.listener.max_connections;
  effective.listener.max_connections_per_peer = running.listener.max_connections_per_peer;
  effective.ledger = running.ledger;
  effective.audit = running.audit;
  effective.health = running.health;
  effective.vault = running.vault;
  effective.vault.tls = next.vault.tls;
  effective.sync.rate_limit_per_s = running.sync.rate_limit_per_s;
  return effective;
}

}  // namespace

// 1. Everything that can fail, without changing anything.
Result<Daemon::ReloadPlan> Daemon::check_reload() {
  State& s = *s_;
  auto parsed = load_config_file(s.env.config_path);
  if (!parsed.ok()) return parsed.status();
  ReloadPlan plan;
  plan.next = std::move(parsed).value();
  if (Status v = validate_serve_config(plan.next); !v.ok()) return v;
  auto settings = load_serve_settings(plan.next);
  if (!settings.ok()) return settings.status();
  plan.settings = *settings;
  plan.server_tls = {plan.next.listener.tls_cert, plan.next.listener.tls_key,
                     plan.next.listener.tls_client_ca};
  if (s.server_tls && !plan.next.listener.tls_disable) {
    auto checked = tls::ServerTls::create(plan.server_tls, {});
    if (!checked.ok()) return Status(checked.status().code(), "listener TLS: " + checked.status().message());
  }
  auto vault_config = effective_vault_config(plan.next.vault, s.env.vault_env);
  if (!vault_config.ok()) return vault_config.status();
  plan.vault_config = *vault_config;
  if (s.vault->connection().factory->tls()) {
    auto checked = tls::ClientTls::create(plan.vault_config.tls, {});
    if (!checked.ok()) return Status(checked.status().code(), "vault TLS: " + checked.status().message());
  }
  auto group = s.make_group(plan.next);
  if (!group.ok()) return group.status();
  plan.group = *group;
  return plan;
}

// 2. Apply. The checks make the reloads below succeed unless a file changes again in between;
// then that part keeps its old material and says so.
void Daemon::apply_reload(ReloadPlan plan) {
  State& s = *s_;
  Logger& log = *s.log;
  if (s.server_tls && !plan.next.listener.tls_disable) {
    Status reloaded = s.server_tls->reload(plan.server_tls);
    if (!reloaded.ok()) log.error("reload.listener_tls", reloaded.message());
  }
  if (const auto& client_tls = s.vault->connection().factory->tls()) {
    Status reloaded = client_tls->reload(plan.vault_config.tls);
    if (!reloaded.ok()) log.error("reload.vault_tls", reloaded.message());
  }
  s.log->set_level(plan.next.log.level);
  s.log->set_format(plan.next.log.format);
  s.settings->set(plan.settings);
  if (Status a = s.audit->reopen(); !a.ok()) log.error("reload.audit", a.message());
  replace_group(plan.group);
  const auto running = s.current_config();
  const auto restart_only = restart_only_changes(*running, plan.next);
  {
    ps::MutexLock lock(s.config_mu);
    s.config = std::make_shared<const Config>(effective_config(*running, plan.next));
  }
  if (!restart_only.empty()) {
    std::string keys;
    for (const auto& k : restart_only) keys += (keys.empty() ? "" : ", ") + k;
    log.warn("reload.restart_needed",
             "changed settings that take effect only after a restart: " + keys);
  }
}

// The old worker finishes its push and releases its claims before the new one starts, so two
// workers of this process (same lease owner) never hold the same row. Approvals committed in
// between stay pending and are the new worker's first pass.
void Daemon::replace_group(std::shared_ptr<SyncGroup> next) {
  State& s = *s_;
  std::shared_ptr<SyncGroup> old_group = s.current_group();
  s.stop_group(*old_group, s.env.clock.steady_now() + std::chrono::seconds(30));
  s.start_group(*next);
  {
    ps::MutexLock lock(s.group_mu);
    s.group = next;
  }
  s.tier_changes->set_desired(next->desired);
  if (s.detached.load()) {
    // A thread of the old group is still running: keep its objects alive.
    static std::vector<std::shared_ptr<SyncGroup>> graveyard;
    graveyard.push_back(old_group);
  }
}

void Daemon::reload() {
  State& s = *s_;
  Logger& log = *s.log;
  if (Status n = s.notifier->reloading(); !n.ok()) log.warn("systemd.notify", n.message());
  auto plan = check_reload();
  if (!plan.ok()) {
    s.metrics->reloads.inc({"rejected"});
    log.error("reload.rejected",
              "reload rejected; the running configuration stays: " + plan.status().message(),
              {{"config", s.env.config_path}});
    (void)s.notifier->ready("serving (reload rejected)");
    return;
  }
  const LogLevel level = plan->next.log.level;
  apply_reload(std::move(plan).value());
  s.metrics->reloads.inc({"ok"});
  log.info("reload.done", "configuration reloaded",
           {{"config", s.env.config_path}, {"log_level", log_level_name(level)}});
  (void)s.notifier->ready("serving (reloaded)");
}

}  // namespace ps::sidecar::server
