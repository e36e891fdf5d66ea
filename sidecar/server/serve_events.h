// The daemon's view of Vault traffic and sync outcomes: SyncEvents (sidecar/sync/events.h) and
// the Vault client's RequestObserver turned into metrics, log events and audit records.
//
// Audited: sync parked (with the reason), drift found, drift corrected. The worker and the
// reconciler log their own outcomes; this adds the log line for a corrected drift only.
// Thread-safe and quick: no ledger or Vault calls.
#pragma once

#include "sidecar/log.h"
#include "sidecar/server/audit.h"
#include "sidecar/server/serve_metrics.h"
#include "sidecar/sync/events.h"
#include "vault/api.h"

namespace ps::sidecar::server {

class ServeSyncEvents final : public SyncEvents {
 public:
  ServeSyncEvents(ServeMetrics& metrics, Logger& log, AuditLog* audit)
      : metrics_(metrics), log_(log), audit_(audit) {}

  void on_synced(const SyncedEvent& e) override;
  void on_retry_scheduled(const RetryScheduledEvent& e) override;
  void on_parked(const ParkedEvent& e) override;
  void on_superseded(const SupersededEvent& e) override;
  void on_vault_unavailable(const VaultUnavailableEvent& e) override;
  void on_vault_available() override;
  void on_drift_found(const DriftEvent& e) override;
  void on_drift_corrected(const DriftEvent& e) override;
  void on_reconcile_done(const ReconcileSummary& s) override;

 private:
  void audit(std::string_view event, const nlohmann::json& fields);

  ServeMetrics& metrics_;
  Logger& log_;
  AuditLog* audit_;
};

// Counts every Vault request by operation and status, with its latency.
vault::RequestObserver vault_request_metrics(ServeMetrics& metrics);

}  // namespace ps::sidecar::server
