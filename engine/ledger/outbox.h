// The sidecar's outbox in the ledger (migrations 2 and 3): per agent, the Vault state its tier
// asks for, and what happened when the sidecar tried to make Vault say it.
//
// One row per agent (sidecar_outbox):
//   role, tier, policies   the desired state: the agent's role and the sorted token_policies
//                          the tier maps to (roles.tier_policies) at the time of the change
//   generation             grows by one with every change of the agent's desired state (tier
//                          change, repair); never decreases
//   synced_generation      the generation Vault was last verified to hold
//   revision               grows with every change AND every claim: a worker's write counts
//                          only if the revision it claimed is still the row's (fencing)
//   state                  pending (Vault must still be told) | synced | failed (parked: a
//                          person must act; the reconciler retries it)
//   kind, priority         demotion (0) before promotion / repair (1)
//   attempts, next_attempt_ms, error_code, last_error, lease_owner, lease_until_ms
// plus sidecar_demotions (the record of a demotion, kept apart from the platform's promotions
// table), sidecar_sync_history (one row per push outcome) and sidecar_drift (one row per
// difference the reconciler found).
//
// Contracts:
//  - write_desired_state() runs inside a tier-change transaction (a TierChangeHook), so a
//    committed tier change always has its outbox row and vice versa.
//  - A push is fenced: claim_due() leases rows and bumps their revision; finish() applies an
//    outcome only if the row's revision is still the claimed one. When it moved (a newer
//    change, or another worker took the row over) and the push wrote to Vault, the row is put
//    back to pending with a new revision, so whatever stale list the push may have written is
//    always followed by a push of the newest generation, and no other in-flight push of the
//    row can mark it synced.
//  - Leases keep two workers (two processes) off the same row: a row leased by a live owner is
//    not claimed until the lease expires; a lease whose owner is dead (caller's predicate) is
//    broken at once.
//  - Times: *_ms columns are Unix milliseconds of the injected wall clock; text columns are
//    isoformat UTC like the rest of the ledger.
//
// Thread safety: an Outbox owns one connection and is used by one thread at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/ledger/ledger.h"
#include "engine/ledger/sqlite.h"
#include "engine/base/status.h"
#include "engine/rules/timestamp.h"

namespace ps::engine {


enum class OutboxState { pending, synced, failed };
std::string_view to_string(OutboxState state);
std::optional<OutboxState> outbox_state_from(std::string_view text);

// Why the row's current generation was written. Demotions are pushed first.
enum class ChangeKind { demotion, promotion, repair };
std::string_view to_string(ChangeKind kind);
std::optional<ChangeKind> change_kind_from(std::string_view text);

// Wall time <-> the outbox's Unix milliseconds.
std::int64_t to_unix_ms(WallTime t);
WallTime from_unix_ms(std::int64_t ms);

// The desired Vault state of one agent after a change.
struct DesiredChange {
  std::string agent_id;
  // The agent's role (lowercase, validated by the caller); nullopt when the agent id cannot
  // name a Vault role: then `problem` says why and the row is parked at once (the tier change
  // itself still commits; the ledger is the truth, Vault cannot follow).
  std::optional<std::string> role;
  std::int64_t tier = 0;
  std::vector<std::string> policies;  // sorted, unique
  ChangeKind kind = ChangeKind::promotion;
  WallTime at;                        // the change's time; the row is due from then
  std::optional<std::string> problem;
  // Why the row is parked when `problem` is set: invalid_role_name (no role), role_collision
  // (the role is shared with an agent at a lower tier; `policies` are then that tier's).
  std::string problem_code = "invalid_role_name";
  // Hand-off: the row is written leased to this owner (the in-process worker that will push
  // it) until lease_until, so that worker takes it without a claim transaction. Only when the
  // row is not under a live lease already and not parked; otherwise it is claimed as usual.
  std::optional<std::string> lease_owner;
  WallTime lease_until;
};

// Agents whose ids differ from `agent_id` only in ASCII case: Vault role names are
// case-insensitive, so they share its role. With their tiers, inside a tier change's
// transaction.
struct RoleSharer {
  std::string agent_id;
  std::int64_t tier = 0;
};
Result<std::vector<RoleSharer>> role_sharers(LedgerTx& tx, std::string_view agent_id);

// Inside an open tier-change transaction (call it from a TierChangeHook): inserts the agent's
// row, or replaces its desired state and bumps generation and revision (state pending, attempts
// reset, due at change.at). Returns the new generation through `generation` when not null.
Status write_desired_state(LedgerTx& tx, const DesiredChange& change,
                           std::int64_t* generation = nullptr);

struct OutboxRow {
  std::string agent_id;
  std::optional<std::string> role;
  std::int64_t tier = 0;
  std::vector<std::string> policies;
  ChangeKind kind = ChangeKind::promotion;
  std::int64_t generation = 0;
  std::int64_t synced_generation = 0;
  std::int64_t revision = 0;
  OutboxState state = OutboxState::pending;
  std::int64_t attempts = 0;
  WallTime next_attempt_at;
  WallTime changed_at;                     // when the current generation was written
  std::optional<WallTime> pending_since;   // the first change Vault has not confirmed yet
  std::optional<std::string> error_code;   // e.g. "role_missing", "permission_denied"
  std::optional<std::string> last_error;   // operator-facing, secret-free
  std::optional<std::string> lease_owner;
  std::optional<WallTime> lease_until;
  std::string created_at;
  std::string updated_at;
  std::optional<std::string> synced_at;
};

struct ClaimRequest {
  // Lease owner id (see sidecar/sync/lease.h), one per worker. Rows leased to this owner are
  // claimable again: a worker claims only when none of its own pushes is in flight.
  std::string owner;
  WallTime now;
  std::int64_t limit = 100;
  std::chrono::milliseconds lease{std::chrono::minutes{5}};
  // True when the process named by a lease owner id is known to be gone (its lease can be
  // broken before it expires). Null: only expired leases are broken.
  std::function<bool(std::string_view owner)> owner_is_dead;
  // Several workers of one process split the agents: this claim takes only agents with
  // agent_partition(agent_id, partitions) == partition, so no agent (its push, and its
  // revocation steps) is ever worked by two of them at once.
  std::uint32_t partition = 0;
  std::uint32_t partitions = 1;
  bool takes(std::string_view agent_id) const;
  // May this claim take a row leased to `owner` until `until_ms`? Yes when unleased, expired,
  // our own (a worker claims only when none of its pushes is in flight, so its leases left
  // behind by a failed finish() are free), or held by a dead owner.
  bool lease_free(const std::optional<std::string>& owner, std::optional<std::int64_t> until_ms,
                  std::int64_t now_ms) const;
  // For claim_due implementations: steps `scan` (columns 1-3: lease_owner, lease_until_ms,
  // agent_id; column 0 is the caller's key) and calls `take` for each row this request may
  // claim (lease free, agent in its partition), up to `limit` rows.
  Status choose(sqlite::Statement& scan,
                const std::function<void(const sqlite::Statement&)>& take) const;
};

// A stable partition of an agent id (FNV-1a over the ASCII-lowercased id, so ids that share a
// Vault role - they differ only in case - share a partition), in [0, partitions).
std::uint32_t agent_partition(std::string_view agent_id, std::uint32_t partitions);

// What became of one claimed row.
struct PushOutcome {
  enum class Kind {
    synced,    // Vault verified to hold `policies_on_role` (the managed part equal to the desired)
    retry,     // try again at next_attempt_at (attempts + 1 when count_attempt)
    parked,    // state failed with error_code / message
    released,  // not attempted (pause, shutdown): lease dropped, nothing else changes
  };
  Kind kind = Kind::released;
  std::string agent_id;
  std::int64_t revision = 0;    // the claim's
  std::int64_t generation = 0;  // the claim's
  bool wrote = false;           // a write request was sent (it may have landed even if it failed)
  std::vector<std::string> policies_on_role;
  // synced: when the read that verified it returned; it becomes the row's synced_at (finish's
  // `now` when unset).
  std::optional<WallTime> verified_at;
  std::optional<std::string> error_code;
  std::optional<std::string> message;
  WallTime next_attempt_at;
  bool count_attempt = true;
};

struct FinishResult {
  enum class Kind {
    applied,     // the outcome was recorded
    superseded,  // the row changed under the push; it is pending again (see contracts)
    gone,        // no such row any more
  };
  Kind kind = Kind::applied;
  std::int64_t generation = 0;  // the row's generation after finish()
};

struct OutboxStats {
  std::int64_t pending = 0;
  std::int64_t synced = 0;
  std::int64_t failed = 0;
  std::int64_t leased = 0;  // pending rows under a live lease (a push in flight)
  std::optional<WallTime> oldest_pending_since;
  std::vector<OutboxRow> failed_rows;  // oldest first, at most the limit asked for
};

// One agent as the reconciler sees it: its tier in the ledger and its outbox row.
struct AgentSyncView {
  std::string agent_id;
  std::optional<std::int64_t> tier;   // nullopt when `problem` is set
  std::optional<std::string> problem; // the agent_metrics row breaks the upstream contract
  std::optional<OutboxRow> row;
};

// A repair the reconciler asks for: written only if the agent is still at `change.tier` and
// its row still has `expected_generation` (0 = the agent has no row), so a repair computed from
// an old read never overtakes a newer tier change.
struct RepairRequest {
  DesiredChange change;
  std::int64_t expected_generation = 0;
  // The agent's tier in agent_metrics when it was read (change.tier differs while frozen),
  // and whether the repair assumed the freeze: it is written only if both still hold.
  std::int64_t ledger_tier = 0;
  bool while_frozen = false;
};

// Parked rows the reconciler retries: back to pending, due now, attempts reset - only if the
// row is still failed at `revision`.
struct RequeueRequest {
  std::string agent_id;
  std::int64_t revision = 0;
};

struct DriftRecord {
  std::string found_at;  // isoformat UTC
  std::string agent_id;
  std::string role;
  std::string kind;      // "policies" | "role_missing"
  std::vector<std::string> expected;
  std::optional<std::vector<std::string>> found;  // nullopt when the role is missing
  std::string mode;      // detect | correct
  std::string action;    // report | repair | create
};

struct SyncHistoryEntry {
  std::int64_t id = 0;
  std::string at;
  std::string agent_id;
  std::optional<std::string> role;
  std::int64_t tier = 0;
  std::int64_t generation = 0;
  std::string outcome;  // synced | retry | parked | superseded
  std::optional<std::vector<std::string>> policies;
  std::optional<std::string> error_code;
  std::optional<std::string> message;
  std::int64_t attempt = 0;
};

struct ReconcileWrites {
  WallTime now;  // requeued rows are due from now
  std::vector<DriftRecord> drift;
  std::vector<RepairRequest> repairs;
  std::vector<RequeueRequest> requeues;
};
struct ReconcileWriteResult {
  std::int64_t repairs_written = 0;   // the others were overtaken by newer changes
  std::int64_t requeued = 0;
};

// Records a batch of push outcomes (and their history rows), in order, inside the caller's
// write transaction (Outbox::finish, or a group commit that carries the sync workers' finishes
// with its promotions). Each applies only where the row still has the claimed revision (see
// contracts); results are in the same order as `outcomes`.
Result<std::vector<FinishResult>> finish_pushes(LedgerTx& tx,
                                                const std::vector<PushOutcome>& outcomes,
                                                std::string_view owner, WallTime now);

class Outbox {
 public:
  // Opens its own connection to an existing ledger. failed_precondition (naming `migrate`)
  // when migrations 2 and 3 are not applied.
  static Result<std::unique_ptr<Outbox>> open(const LedgerOptions& options);

  // Pending rows due at request.now (next_attempt <= now) that are not under a live lease,
  // demotions first, then the oldest change first; each gets the lease and a new revision. The
  // rows are returned as claimed. A read decides first: with nothing claimable no write
  // transaction is started; when every row chosen was handed to request.owner by its tier
  // change (DesiredChange::lease_owner, lease still running) they are returned as they are,
  // also without a write; otherwise one write transaction chooses again and claims.
  Result<std::vector<OutboxRow>> claim_due(const ClaimRequest& request);

  // Extends the lease of a claimed row to `until`, only if the claim is still the caller's:
  // the row is pending, leased to `owner` and still has the claimed `revision` (every claim
  // bumps it, so no other worker has taken the row over since). False: the claim is lost and
  // the caller must not write to Vault for it . One write transaction.
  Result<bool> renew_lease(std::string_view agent_id, std::int64_t revision,
                           std::string_view owner, WallTime until);

  // One write transaction for finish_pushes() (none when `outcomes` is empty).
  Result<std::vector<FinishResult>> finish(const std::vector<PushOutcome>& outcomes,
                                           std::string_view owner, WallTime now);

  // Makes every pending row due now (the `sync` command: "try everything now"). Returns the
  // number of rows changed.
  Result<std::int64_t> make_all_due(WallTime now);

  // Counts by state, the oldest pending change, and up to `failed_limit` parked rows.
  Result<OutboxStats> stats(WallTime now, std::int64_t failed_limit = 100);

  // The agent's row, or nullopt.
  Result<std::optional<OutboxRow>> row(std::string_view agent_id);
  // Rows in agent order (tests, status listings); state filter optional; limit < 0 = all.
  Result<std::vector<OutboxRow>> rows(std::optional<OutboxState> state, std::int64_t limit);
  // The earliest next_attempt of pending rows (to sleep until then), or nullopt.
  Result<std::optional<WallTime>> next_due();

  // Agents of agent_metrics with agent_id > `after` (BINARY order), at most `limit`, with their
  // outbox rows. One read transaction.
  Result<std::vector<AgentSyncView>> agents_page(std::string_view after, std::int64_t limit);

  // One write transaction: drift records, conditional repairs, conditional requeues.
  Result<ReconcileWriteResult> write_reconcile(const ReconcileWrites& writes);
  // Requeues every parked row (drift mode ignore still retries parked rows).
  Result<std::int64_t> requeue_all_failed(WallTime now);

  // Newest first; limit < 0 = all.
  Result<std::vector<SyncHistoryEntry>> history(std::string_view agent_id, std::int64_t limit);
  Result<std::vector<DriftRecord>> drift(std::string_view agent_id, std::int64_t limit);

  // True while the kill switch is on (engine/ledger/revocation.h): every role's desired state
  // is then tier 0's.
  Result<bool> frozen();

  // Roles shared by several agents (ids equal but for ASCII case), keyed by the lowercased
  // id, with the lowest tier among them (the role's desired tier) and the agents.
  struct Collision {
    std::int64_t lowest_tier = 0;
    std::vector<std::string> agents;
  };
  Result<std::map<std::string, Collision>> role_collisions();

  // Deletes sync history rows older than the newest `keep` rows. Returns the number deleted.
  Result<std::int64_t> prune_history(std::int64_t keep);

 private:
  explicit Outbox(std::unique_ptr<sqlite::Connection> conn) : conn_(std::move(conn)) {}
  struct Claimable {
    std::string agent_id;
    bool handed = false;  // already leased to the request's owner, lease running
  };
  Result<std::vector<Claimable>> claimable(const ClaimRequest& request);
  // The rows of `chosen` (all handed to `owner`) as they are now, in a read transaction; a row
  // no longer leased to `owner` is left out.
  Result<std::vector<OutboxRow>> read_handed(const std::vector<Claimable>& chosen,
                                             const ClaimRequest& request);
  std::unique_ptr<sqlite::Connection> conn_;
};

}  // namespace ps::engine
