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
  Counter& listener_refused;         // {reason}: kListenerRefusalReasons
  // {stage=queued|read|write|readback|finish}: the parts of one synced push (SyncedEvent).
  Histogram& sync_stage_duration;
  // {step=begin_write|commit}: mirrors engine/ledger/lock_waits.h at every scrape.
  Histogram& ledger_lock_wait;

  // The registry's collector for ledger_lock_wait (runs before every render).
  void mirror_lock_waits();
};

// The reasons of policy_sidecar_listener_refused_total (each series exists from start-up at 0):
// connections closed at accept over listener.max_connections / max_connections_per_peer;
// connections closed because the handshake + head (head_timeout) or the whole request
// (request_timeout) missed its deadline, or a read stalled (read_timeout); heads refused 431
// over listener.max_header_bytes (header_too_large) or listener.max_headers (too_many_headers).
inline constexpr const char* kListenerRefusalReasons[] = {
    "max_connections", "max_connections_per_peer", "head_timeout", "request_timeout",
    "read_timeout",    "header_too_large",         "too_many_headers"};

}  // namespace ps::sidecar::server
