#include "sidecar/server/serve_metrics.h"

#include <utility>
#include <vector>

#include "engine/ledger/lock_waits.h"

namespace ps::sidecar::server {
namespace {

// From 100 us to 1 s: the stages of one push and the ledger's lock waits share the bounds the
// SQLite adapter counts lock waits in (engine/ledger/lock_waits.h), which the mirror needs.
std::vector<double> fine_latency_buckets() {
  return {engine::sqlite::kLockWaitBounds.begin(), engine::sqlite::kLockWaitBounds.end()};
}

}  // namespace

ServeMetrics::ServeMetrics(MetricsRegistry& r, const std::string& version)
    : registry(r),
      build_info(r.gauge("policy_sidecar_build_info", "Build information (always 1).", {"version"})),
      promotions(r.counter("policy_sidecar_promotions_total",
                           "Promotion attempts by source and result.", {"source", "result"})),
      denials(r.counter("policy_sidecar_denials_total", "Denials received, by result.", {"result"})),
      webhook_requests(r.counter("policy_sidecar_webhook_requests_total",
                                 "Approval webhook requests by HTTP status.", {"status"})),
      webhook_rejections(r.counter("policy_sidecar_webhook_rejections_total",
                                   "Rejected approval webhooks by reason.", {"reason"})),
      webhook_duration(r.histogram("policy_sidecar_webhook_duration_seconds",
                                   "Approval webhook: request read to answer (after the "
                                   "ledger commit), by outcome.",
                                   {"outcome"}, latency_buckets())),
      api_requests(r.counter("policy_sidecar_api_requests_total",
                             "Operator API, health and metrics requests by route and status.",
                             {"route", "status"})),
      commit_batch_size(r.histogram("policy_sidecar_commit_batch_size",
                                    "Promotions committed together in one ledger transaction.",
                                    {}, {1, 2, 4, 8, 16, 32, 64})),
      commit_duration(r.histogram("policy_sidecar_commit_duration_seconds",
                                  "One promotion transaction, lock wait and fsync included.", {},
                                  latency_buckets())),
      vault_requests(r.counter("policy_sidecar_vault_requests_total",
                               "Requests to Vault by operation and status (HTTP status, or the "
                               "error class when no answer arrived).",
                               {"operation", "status"})),
      vault_request_duration(r.histogram("policy_sidecar_vault_request_duration_seconds",
                                         "Latency of requests to Vault by operation.",
                                         {"operation"}, latency_buckets())),
      sync_results(r.counter("policy_sidecar_sync_results_total",
                             "Outbox pushes to Vault by result.", {"result"})),
      sync_retries(r.counter("policy_sidecar_sync_retries_total",
                             "Outbox pushes rescheduled after a transient failure.")),
      outbox_rows(r.gauge("policy_sidecar_outbox_rows", "Outbox rows by state.", {"state"})),
      outbox_oldest_pending_age(r.gauge("policy_sidecar_outbox_oldest_pending_age_seconds",
                                        "Age of the oldest pending outbox row (0 when none).")),
      drift_found(r.counter("policy_sidecar_drift_found_total",
                            "Roles whose token_policies differed from the ledger's tier.")),
      drift_corrected(r.counter("policy_sidecar_drift_corrected_total",
                                "Drifted roles queued for repair through the outbox.")),
      reconcile_duration(r.histogram("policy_sidecar_reconcile_duration_seconds",
                                     "Duration of reconcile passes.", {"dry_run"},
                                     {0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300})),
      reconcile_runs(r.counter("policy_sidecar_reconcile_runs_total", "Reconcile passes by result.",
                               {"result"})),
      token_ttl(r.gauge("policy_sidecar_vault_token_ttl_seconds",
                        "Seconds left on the sidecar's own Vault token (-1: does not expire or "
                        "unknown).")),
      token_valid(r.gauge("policy_sidecar_vault_token_valid",
                          "1 when the sidecar holds a Vault token not known to be rejected.")),
      vault_up(r.gauge("policy_sidecar_vault_up",
                       "1 when Vault answered the last health probe unsealed and active.")),
      agents(r.gauge("policy_sidecar_agents",
                     "Agents by evaluation status at the last periodic evaluation.", {"status"})),
      evaluation_duration(r.histogram("policy_sidecar_evaluation_duration_seconds",
                                      "Duration of periodic evaluation passes.", {},
                                      {0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60})),
      audit_failures(r.counter("policy_sidecar_audit_failures_total",
                               "Audit records that could not be written or synced.")),
      reloads(r.counter("policy_sidecar_reloads_total", "SIGHUP reloads by result.", {"result"})),
      revocations(r.counter("policy_sidecar_revocations_total",
                            "Demotions recorded, by source (violation, manual, freeze).",
                            {"source"})),
      violations(r.counter("policy_sidecar_violations_total",
                           "Violations handled by the revocation watcher, by outcome.",
                           {"outcome"})),
      revocation_steps(r.counter("policy_sidecar_revocation_steps_total",
                                 "Vault-side revocation steps by step and result.",
                                 {"step", "result"})),
      frozen(r.gauge("policy_sidecar_frozen", "1 while the kill switch (freeze) is on.")),
      role_collisions(r.gauge("policy_sidecar_role_collisions",
                              "Roles shared by agents whose ids differ only in case (last "
                              "reconcile pass); such a role keeps the lowest tier's policies.")),
      orphan_roles(r.gauge("policy_sidecar_orphan_roles",
                           "Roles in the managed mount that belong to no ledger agent (last "
                           "reconcile pass).")),
      retention_deleted(r.counter("policy_sidecar_retention_deleted_total",
                                  "Rows deleted by retention (retention.*), by table.",
                                  {"table"})),
      listener_refused(r.counter("policy_sidecar_listener_refused_total",
                                 "Connections the listener closed on a limit before a route saw "
                                 "the request, by reason.",
                                 {"reason"})),
      sync_stage_duration(r.histogram(
          "policy_sidecar_sync_stage_duration_seconds",
          "Parts of one synced push: queued (commit to claim), read, write, readback (Vault "
          "requests) and finish (the ledger transaction that marks it synced).",
          {"stage"}, fine_latency_buckets())),
      ledger_lock_wait(r.histogram(
          "policy_sidecar_ledger_lock_wait_seconds",
          "This process's ledger write transactions: BEGIN IMMEDIATE (waiting for the write "
          "lock) and COMMIT (waiting for readers, plus the syncs).",
          {"step"}, fine_latency_buckets())) {
  build_info.set({version}, 1);
  for (const char* reason : kListenerRefusalReasons) listener_refused.inc({reason}, 0);
  register_process_metrics(r);
  r.add_collector([this] { mirror_lock_waits(); });
}

void ServeMetrics::mirror_lock_waits() {
  using engine::sqlite::LockStep;
  for (const auto& [step, name] : {std::pair{LockStep::begin_write, "begin_write"},
                                   std::pair{LockStep::commit, "commit"}}) {
    const engine::sqlite::LockWaitSnapshot w = engine::sqlite::lock_waits(step);
    ledger_lock_wait.set_series({name}, {w.buckets.begin(), w.buckets.end()}, w.sum_seconds,
                                w.count);
  }
}

}  // namespace ps::sidecar::server
