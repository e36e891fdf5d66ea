#include "sidecar/server/serve_events.h"

#include "vault/types.h"

namespace ps::sidecar::server {
namespace {

nlohmann::json policies_json(const std::vector<std::string>& p) { return nlohmann::json(p); }

nlohmann::json drift_fields(const DriftEvent& e) {
  nlohmann::json j = {{"agent_id", e.agent_id},
                      {"role", e.role},
                      {"kind", e.kind},
                      {"expected", policies_json(e.expected)},
                      {"mode", std::string(to_string(e.mode))},
                      {"action", e.action}};
  j["found"] = e.found ? policies_json(*e.found) : nlohmann::json(nullptr);
  return j;
}

}  // namespace

void ServeSyncEvents::audit(std::string_view event, const nlohmann::json& fields) {
  if (!audit_) return;
  if (auto s = audit_->record(event, fields); !s.ok()) {
    metrics_.audit_failures.inc();
    log_.error("audit.failed", s.message(), {{"audit_event", std::string(event)}});
  }
}

void ServeSyncEvents::on_synced(const SyncedEvent&) {
  metrics_.sync_results.inc({"synced"});
}

void ServeSyncEvents::on_retry_scheduled(const RetryScheduledEvent&) {
  metrics_.sync_results.inc({"retry"});
  metrics_.sync_retries.inc();
}

void ServeSyncEvents::on_parked(const ParkedEvent& e) {
  metrics_.sync_results.inc({"parked"});
  audit("sync.parked", {{"agent_id", e.agent_id},
                        {"role", e.role},
                        {"tier", e.tier},
                        {"generation", e.generation},
                        {"reason", e.reason},
                        {"message", e.message}});
}

void ServeSyncEvents::on_superseded(const SupersededEvent&) {
  metrics_.sync_results.inc({"superseded"});
}

void ServeSyncEvents::on_vault_unavailable(const VaultUnavailableEvent&) {
  metrics_.vault_up.set(0);
}

void ServeSyncEvents::on_vault_available() {
  metrics_.vault_up.set(1);
}

void ServeSyncEvents::on_drift_found(const DriftEvent& e) {
  if (e.dry_run) return;  // a plan, not a finding: the report carries it
  metrics_.drift_found.inc();
  audit("drift.found", drift_fields(e));
}

void ServeSyncEvents::on_drift_corrected(const DriftEvent& e) {
  metrics_.drift_corrected.inc();
  log_.info("reconcile.corrected", "drifted role repaired", drift_fields(e));
  audit("drift.corrected", drift_fields(e));
}

void ServeSyncEvents::on_reconcile_done(const ReconcileSummary& s) {
  const double seconds = std::chrono::duration<double>(s.duration).count();
  metrics_.reconcile_duration.observe({s.dry_run ? "true" : "false"}, seconds);
  metrics_.reconcile_runs.inc({s.complete ? "ok" : "error"});
}

vault::RequestObserver vault_request_metrics(ServeMetrics& metrics) {
  return [&metrics](const vault::RequestEvent& e) {
    const std::string op(vault::to_string(e.operation));
    const std::string status = e.http_status != 0 ? std::to_string(e.http_status)
                               : e.error         ? std::string(vault::to_string(*e.error))
                                                 : "unknown";
    metrics.vault_requests.inc({op, status});
    metrics.vault_request_duration.observe({op}, std::chrono::duration<double>(e.latency).count());
  };
}

}  // namespace ps::sidecar::server
