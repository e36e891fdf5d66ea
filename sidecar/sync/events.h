// What the sync layer reports, for metrics, logs and the audit trail (serve implements both
// interfaces in sidecar/server/serve_events.h; the CLI uses the no-op defaults):
//   SyncEvents        the sync worker's and the reconciler's outcomes
//   TierChangeEvents  the tier-change service's decisions (promotions, denials, demotions,
//                     group commits) and the periodic evaluator's passes
//
// Calls come from the threads doing the work, after the outcome is committed to the ledger.
// Implementations must be thread-safe and quick (no Vault or ledger calls). No event carries a
// secret.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/base/status.h"
#include "engine/ledger/ledger.h"
#include "engine/ledger/outbox.h"
#include "engine/ledger/revocation.h"
#include "sidecar/config/sync_settings.h"

namespace ps::sidecar {

// Where the time of one synced push went. queued: from the commit that queued the change to
// the claim that took it (waiting for a wake-up, a worker and the claim's write lock); read,
// write, readback: the Vault requests (zero when not made); finish: the ledger transaction
// that records the push (lock wait and commit included).
struct PushStages {
  std::chrono::microseconds queued{0};
  std::chrono::microseconds read{0};
  std::chrono::microseconds write{0};
  std::chrono::microseconds readback{0};
  std::chrono::microseconds finish{0};
};

// Vault verified to hold the agent's desired state.
struct SyncedEvent {
  std::string agent_id;
  std::string role;
  std::int64_t tier = 0;
  std::int64_t generation = 0;
  engine::ChangeKind kind = engine::ChangeKind::promotion;
  std::vector<std::string> policies;  // the role's token_policies now
  bool wrote = false;                 // false: Vault already held it (no write was needed)
  std::int64_t attempts = 0;          // failed attempts before this one
  std::chrono::milliseconds latency{0};  // the push (reads and write), rate-limit waits excluded
  PushStages stages;
};

// A push failed transiently; the row is retried at `next_attempt_at`.
struct RetryScheduledEvent {
  std::string agent_id;
  std::string role;
  std::int64_t generation = 0;
  std::int64_t attempt = 0;  // attempts so far, this one included
  std::chrono::milliseconds delay{0};
  std::string error_code;    // vault::ErrorCode name, or "readback_mismatch"
  std::string message;
};

// A push cannot succeed until someone acts: the row is failed (parked) with the reason.
struct ParkedEvent {
  std::string agent_id;
  std::string role;           // empty when the agent id cannot name a role
  std::int64_t generation = 0;
  std::int64_t tier = 0;
  std::string reason;         // role_missing, permission_denied, invalid_request, ...
  std::string message;
};

// A Vault-side revocation step (destroy_secret_ids, revoke_tokens) finished, is retried, or
// is parked.
struct RevocationStepEvent {
  std::string agent_id;
  std::string role;
  std::string step;    // destroy_secret_ids | revoke_tokens
  std::string result;  // done | retry | parked
  std::string detail;  // what it did
  std::string error_code;
  std::string message;
};

// The row changed while it was being pushed; it is pending again for the newer state.
struct SupersededEvent {
  std::string agent_id;
  std::string role;
  std::int64_t claimed_generation = 0;
  std::int64_t current_generation = 0;
};

// Vault cannot be used at the moment (down, sealed, rate limiting, own token rejected...):
// the worker pauses all pushes for `pause`, then probes with one push.
struct VaultUnavailableEvent {
  std::string error_code;
  std::string message;
  std::chrono::milliseconds pause{0};
  std::int64_t consecutive_failures = 0;
};

struct DriftEvent {
  std::string agent_id;
  std::string role;
  std::string kind;  // "policies" | "role_missing"
  std::vector<std::string> expected;
  std::optional<std::vector<std::string>> found;  // nullopt: the role does not exist
  DriftMode mode = DriftMode::detect;
  std::string action;  // report | repair | create (reconciler); corrected (worker)
  bool dry_run = false;
};

struct ReconcileSummary {
  bool dry_run = false;
  DriftMode mode = DriftMode::detect;
  bool complete = false;            // false: stopped early (`error` says why)
  std::optional<std::string> error;
  std::int64_t agents = 0;          // agent_metrics rows walked
  std::int64_t in_sync = 0;
  std::int64_t drifted = 0;         // roles whose policies differ
  std::int64_t missing_roles = 0;
  std::int64_t pending = 0;         // differences a queued push will fix
  std::int64_t parked = 0;          // parked rows found (requeued unless dry run)
  std::int64_t repairs = 0;         // repairs / creations queued (planned when dry run)
  std::int64_t errors = 0;          // agents that could not be checked
  bool frozen = false;              // the kill switch was on: every desired state is tier 0's
  std::int64_t orphans = 0;         // orphan roles found (sidecar/sync/reconciler.h)
  std::int64_t orphans_stripped = 0;  // of them, managed policies removed
  std::int64_t orphans_deleted = 0;   // of them, deleted (reconcile.delete_orphan_roles)
  std::int64_t long_ttl_roles = 0;    // managed roles whose tokens outlive roles.max_token_ttl_s
  std::int64_t role_collisions = 0;   // roles shared by agents whose ids differ only in case
  std::int64_t privilege_excess = 0;  // roles holding a managed policy the ledger does not justify
  std::chrono::milliseconds duration{0};
};

class SyncEvents {
 public:
  virtual ~SyncEvents() = default;
  virtual void on_synced(const SyncedEvent&) {}
  virtual void on_retry_scheduled(const RetryScheduledEvent&) {}
  virtual void on_parked(const ParkedEvent&) {}
  virtual void on_superseded(const SupersededEvent&) {}
  virtual void on_revocation_step(const RevocationStepEvent&) {}
  virtual void on_vault_unavailable(const VaultUnavailableEvent&) {}
  // The first successful push after on_vault_unavailable.
  virtual void on_vault_available() {}
  // The reconciler found a difference (recorded in sidecar_drift unless dry run).
  virtual void on_drift_found(const DriftEvent&) {}
  // A repair queued by the reconciler reached Vault (the worker synced a `repair` row).
  virtual void on_drift_corrected(const DriftEvent&) {}
  virtual void on_reconcile_done(const ReconcileSummary&) {}
};

// Ignores everything (the CLI commands, tests that do not look).
class NoSyncEvents final : public SyncEvents {};

// ---- Tier changes -------------------------------------------------------------------------

// Who asked for a tier change (the metrics label `source` and the audit field).
enum class ChangeSource { cli, webhook, auto_promotion, violation, freeze, api };
// "cli" | "webhook" | "auto"
std::string_view to_string(ChangeSource source);

struct PromotedEvent {
  ChangeSource source = ChangeSource::cli;
  engine::PromotionRecord record;
  std::optional<std::string> webhook_id;
  std::optional<std::string> review_id;
};

// A promotion that did not commit. `status` says why: aborted / failed_precondition /
// invalid_data / invalid_argument / permission_denied are refusals, anything else an error.
struct PromotionRefusedEvent {
  ChangeSource source = ChangeSource::cli;
  std::string agent_id;
  Status status;
  std::optional<std::string> webhook_id;
};

struct DeniedEvent {
  engine::DenialRecord record;
  std::optional<std::string> webhook_id;
};

struct DenialRefusedEvent {
  std::string agent_id;
  Status status;
  std::optional<std::string> webhook_id;
};

struct DemotedEvent {
  ChangeSource source = ChangeSource::cli;
  engine::DemotionRecord record;
};

// One group-commit transaction of promotions (BEGIN .. COMMIT).
struct CommitBatchEvent {
  std::size_t promotions = 0;
  double seconds = 0;
};

// One periodic evaluation pass (sidecar/sync/evaluator.h).
struct EvaluationPass {
  std::int64_t eligible = 0;
  std::int64_t pending_review = 0;
  std::int64_t not_eligible = 0;
  std::int64_t invalid = 0;
  std::int64_t auto_promoted = 0;
  std::int64_t auto_refused = 0;  // lost a race or stopped qualifying in the transaction
  double seconds = 0;
};

// One violation handled by the revocation watcher or `revoke-scan` (demoted, no_action,
// invalid_severity, unknown_agent, invalid_agent_data; below_mark when it arrived late).
struct ViolationHandledEvent {
  engine::ViolationOutcome outcome;
};

// The kill switch changed (freeze: every agent demoted to tier 0 in one transaction).
struct FreezeEvent {
  bool frozen = false;
  std::string reason;
  std::string by;
  std::int64_t agents = 0;   // freeze: agents recorded
  std::int64_t demoted = 0;  // freeze: of them, tiers lowered
};

class TierChangeEvents {
 public:
  virtual ~TierChangeEvents() = default;
  virtual void on_promoted(const PromotedEvent&) {}
  virtual void on_promotion_refused(const PromotionRefusedEvent&) {}
  virtual void on_denied(const DeniedEvent&) {}
  virtual void on_denial_refused(const DenialRefusedEvent&) {}
  virtual void on_demoted(const DemotedEvent&) {}
  virtual void on_commit_batch(const CommitBatchEvent&) {}
  virtual void on_evaluation_done(const EvaluationPass&) {}
  virtual void on_violation_handled(const ViolationHandledEvent&) {}
  virtual void on_freeze_changed(const FreezeEvent&) {}
};

class NoTierChangeEvents final : public TierChangeEvents {};

// True for the codes that mean "refused" (the request was understood and said no), false for
// errors (the ledger failed).
bool is_refusal(Code code);

}  // namespace ps::sidecar
