// The daemon's view of tier changes, Vault traffic and sync outcomes: TierChangeEvents and
// SyncEvents (sidecar/sync/events.h) and the Vault client's RequestObserver turned into
// metrics, log events and audit records.
//
// Audited: promotions (webhook and auto), denials, demotions, sync parked (with the reason),
// drift found, drift corrected. Logged here: every tier change; the worker and the reconciler
// log their own outcomes, this adds the line for a corrected drift.
// Thread-safe and quick: no ledger or Vault calls.
#pragma once

#include <atomic>

#include "sidecar/config/log.h"
#include "sidecar/server/audit.h"
#include "sidecar/server/serve_metrics.h"
#include "sidecar/sync/events.h"
#include "vault/api.h"

namespace ps::sidecar::server {

class ServeEvents final : public SyncEvents, public TierChangeEvents {
 public:
  ServeEvents(ServeMetrics& metrics, Logger& log, AuditLog* audit)
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

  void on_promoted(const PromotedEvent& e) override;
  void on_promotion_refused(const PromotionRefusedEvent& e) override;
  void on_denied(const DeniedEvent& e) override;
  void on_denial_refused(const DenialRefusedEvent& e) override;
  void on_demoted(const DemotedEvent& e) override;
  void on_commit_batch(const CommitBatchEvent& e) override;
  void on_evaluation_done(const EvaluationPass& pass) override;
  void on_violation_handled(const ViolationHandledEvent& e) override;
  void on_freeze_changed(const FreezeEvent& e) override;
  void on_revocation_step(const RevocationStepEvent& e) override;

 // Roles the last reconcile pass found granting more than the ledger justifies, minus the
  // repairs Vault has confirmed since (health is degraded while any remain).
  std::int64_t excess_privilege() const { return excess_privilege_.load(); }
  bool excess_unrepaired() const { return excess_unrepaired_.load(); }  // drift mode ignore

 private:
  std::atomic<std::int64_t> excess_privilege_{0};
  std::atomic<bool> excess_unrepaired_{false};
  void audit(std::string_view event, const nlohmann::json& fields);

  ServeMetrics& metrics_;
  Logger& log_;
  AuditLog* audit_;
};

// Counts every Vault request by operation and status, with its latency.
vault::RequestObserver vault_request_metrics(ServeMetrics& metrics);

}  // namespace ps::sidecar::server
