// The daemon's metric families (names, labels and help in one place; README lists them).
#pragma once

#include <string>

#include "sidecar/server/metrics.h"

namespace ps::sidecar::server {

struct ServeMetrics {
  // Registers every family on `registry` (once per registry), the process_* families
  // (register_process_metrics) included, and sets build_info.
  ServeMetrics(MetricsRegistry& registry, const std::string& version);

  MetricsRegistry& registry;
  Gauge& build_info;                 // {version} 1
  Counter& promotions;               // {source=webhook|auto, result=promoted|refused|error}
  Counter& denials;                  // {result=recorded|refused|error}
  Counter& webhook_requests;         // {status}
  Counter& webhook_rejections;       // {reason}
  Histogram& webhook_duration;       // {outcome}: request received -> answer ready
  Counter& api_requests;             // {route, status}
  Histogram& commit_batch_size;      // promotions per group-commit transaction
  Histogram& commit_duration;        // one group-commit transaction (BEGIN .. COMMIT)
  Counter& vault_requests;           // {operation, status}
  Histogram& vault_request_duration; // {operation}
  Counter& sync_results;             // {result=synced|retry|parked|superseded}
  Counter& sync_retries;             // retries scheduled by the sync worker
  Gauge& outbox_rows;                // {state}
  Gauge& outbox_oldest_pending_age;  // seconds
  Counter& drift_found;
  Counter& drift_corrected;
  Histogram& reconcile_duration;     // {dry_run}
  Counter& reconcile_runs;           // {result=ok|error}
  Gauge& token_ttl;                  // seconds left on the sidecar's own Vault token
  Gauge& token_valid;                // 1 | 0
  Gauge& vault_up;                   // 1 reachable and unsealed, 0 otherwise
  Gauge& agents;                     // {status=eligible|pending_review|not_eligible|invalid}
  Histogram& evaluation_duration;    // one periodic evaluation pass
  Counter& audit_failures;
  Counter& reloads;                  // {result=ok|rejected}
  Counter& revocations;              // {source=violation|manual|freeze}
  Counter& violations;               // {outcome=demoted|no_action|invalid_severity|...}
  Counter& revocation_steps;         // {step, result=done|retry|parked}
  Gauge& frozen;                     // 1 | 0
  Gauge& role_collisions;
  Gauge& orphan_roles;
  Counter& retention_deleted;        // {table}
  // {stage=queued|read|write|readback|finish}: the parts of one synced push (SyncedEvent).
  Histogram& sync_stage_duration;
  // {step=begin_write|commit}: mirrors engine/ledger/lock_waits.h at every scrape.
  Histogram& ledger_lock_wait;

  // The registry's collector for ledger_lock_wait (runs before every render).
  void mirror_lock_waits();
};

}  // namespace ps::sidecar::server
