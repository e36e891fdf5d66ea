// The governance ledger: an SQLite file the platform owns (created from
// tests/support/reference/upstream-schema.sql) that the sidecar reads facts from, writes
// promotions into, and extends only through its own versioned migrations.
//
// Contracts:
//  - open() never creates a file; a missing file, a non-SQLite file, or one without the
//    upstream tables/columns is an error with one clear line (not_found / not_a_ledger).
//  - Reads work on an unmigrated ledger (slower: full scans); results never depend on which
//    indexes exist. Every read of several queries runs in one read transaction (a snapshot).
//  - `now` is always a parameter, bound to SQL as format_isoformat_utc(now); the 30-day window
//    is datetime(timestamp) >= datetime(now, '-30 days'), the reference engine's expression.
//  - Data that breaks the upstream contract (tier outside 0..4, negative counters,
//    non-integer values in integer columns, BLOBs, unparseable timestamps in the agent's
//    actions or violations) is reported per agent, naming the agent and the value.
//  - Writes take the write lock up front (BEGIN IMMEDIATE), wait at most busy_timeout_ms for
//    it (unavailable after that), and never keep it across anything but their own SQL.
//
// Thread safety: a Ledger is used by one thread at a time (open one per thread or process).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/ledger/retention.h"
#include "engine/ledger/ledger_migrations.h"
#include "engine/rules/rules.h"
#include "engine/ledger/sqlite.h"
#include "engine/base/status.h"
#include "engine/rules/timestamp.h"
#include "engine/rules/value.h"

namespace ps::engine {

struct LedgerOptions {
  std::string path;
  std::int64_t busy_timeout_ms = 5000;
  // Read commands set this: the connection refuses writes (PRAGMA query_only).
  bool read_only = false;
  // The all-agents scan (scan_agents) steps the window query of disjoint agent_id ranges on
  // this many extra read connections, one thread each, while the calling thread merges and
  // hands agents to the sink in order. 0 = one per CPU (at most 4); 1 = no threads. Used only
  // when every connection is sure to read the same snapshot (rollback journal; see
  // ledger_scan.cpp); otherwise, and for ledgers of at most one chunk, the scan is sequential.
  unsigned scan_threads = 0;
  // Agents per range handed to one scan thread at a time.
  std::int64_t scan_chunk_agents = 2048;
};

// How far a scan over all agents has got; reported every few thousand rows.
struct ScanProgress {
  enum class Phase { metrics, actions, violations };
  Phase phase = Phase::metrics;
  std::int64_t rows = 0;    // rows read so far in this phase
  std::int64_t agents = 0;  // agents in agent_metrics (known once the metrics phase ends)
};
using ProgressFn = std::function<void(const ScanProgress&)>;

// An agent whose rows break the upstream contract, e.g.
// "agent 'a7': current_tier = 7 (must be an integer 0..4)". It is left out of the evaluation.
struct AgentProblem {
  std::string agent_id;
  std::string message;
};

// One agent_metrics row of a scan: its facts, or why it cannot be evaluated.
struct AgentScanItem {
  std::shared_ptr<const AgentFacts> facts;  // null when `problem` is set
  std::optional<AgentProblem> problem;
};
using AgentSink = std::function<void(AgentScanItem&&)>;

struct AllAgentFacts {
  // Agents with valid data, in the reference's `eligible` order (agent_id, BINARY collation).
  std::vector<std::shared_ptr<const AgentFacts>> agents;
  std::vector<AgentProblem> problems;  // same order
};

// Rows of the promotions table (SELECT *), newest first.
struct PromotionHistory {
  std::vector<std::string> columns;
  std::vector<std::vector<SqlValue>> rows;
};

// ---- The promotion transaction and its seam -------------------------------------------------

// The write transaction of a tier change, as seen by a TierChangeHook. Whatever the hook
// writes through it commits or rolls back together with the tier change. Valid only during
// the hook call; do not keep it.
class LedgerTx {
 public:
  explicit LedgerTx(sqlite::Connection& conn) : conn_(conn) {}
  Result<sqlite::Statement> prepare(std::string_view sql) { return conn_.prepare(sql); }
  Status exec(std::string_view sql) { return conn_.exec(sql); }
  std::int64_t changes() const { return conn_.changes(); }
  std::int64_t last_insert_rowid() const { return conn_.last_insert_rowid(); }
  // For engine/ code that runs its own statements inside the caller's transaction.
  const sqlite::Connection& connection() const { return conn_; }

 private:
  sqlite::Connection& conn_;
};

// Why a demotion happened (sidecar_demotions.source).
enum class DemotionSource { manual, violation, freeze };
std::string_view to_string(DemotionSource source);

// A tier change the ledger is about to commit.
struct TierChange {
  enum class Kind { promotion, demotion };
  Kind kind = Kind::promotion;
  std::string agent_id;
  std::int64_t from_tier = 0;
  std::int64_t to_tier = 0;  // == from_tier for a revocation of an agent already low enough
  // promotions.id of the row just inserted; for a demotion, sidecar_demotions.id.
  std::int64_t promotion_id = 0;
  std::string timestamp;          // the change's timestamp (isoformat, UTC)
  std::string approved_by;        // for a demotion: who demoted
  DemotionSource source = DemotionSource::manual;  // demotions only
  std::optional<std::int64_t> violation_id;        // source violation only
};

// Called inside the tier change's transaction, after agent_metrics is updated and the
// promotions row inserted, before COMMIT. This is where the outbox row for Vault belongs:
// writing it here makes "tier changed" and "Vault must follow" one atomic fact.
// A non-ok Status rolls the whole transaction back and is returned by promote().
// The hook must be short: the platform's writers wait while it runs.
using TierChangeHook = std::function<Status(LedgerTx&, const TierChange&)>;

struct PromotionRequest {
  std::string agent_id;
  std::string approved_by;
  std::optional<std::string> rationale;  // absent or empty: the evaluation's recommendation
  // The tier the approver saw. When set, the promotion happens only if the agent is still at
  // it (otherwise aborted), so two approvals of the same step never promote twice.
  std::optional<std::int64_t> expected_from_tier;
  WallTime now;
  // Checked inside the transaction before the evaluation's verdict and before anything is
  // written (a freeze, an unhandled violation): a non-ok Status refuses it with its reason.
  std::function<Status(LedgerTx&)> precondition;
};

struct PromotionRecord {
  std::int64_t id = 0;
  std::string timestamp;
  std::string agent_id;
  std::int64_t from_tier = 0;
  std::int64_t to_tier = 0;
  std::string approved_by;
  std::string rationale;
  std::string evidence_json;  // json.dumps(evaluation.evidence), as the reference stores it
  Evaluation evaluation;      // the evaluation made inside the transaction
};

// A demotion: recorded in sidecar_demotions (migration 2), never in the
// platform's promotions table, whose rows keep the reference engine's meaning.
struct DemotionRequest {
  std::string agent_id;
  std::int64_t to_tier = 0;
  std::string demoted_by;
  std::string reason;
  // When set, the demotion happens only if the agent is still at this tier (aborted otherwise).
  std::optional<std::int64_t> expected_from_tier;
  WallTime now;
  DemotionSource source = DemotionSource::manual;
  std::optional<std::int64_t> violation_id;
  // A revocation (violation, freeze) of an agent already at or below to_tier is recorded
  // without a tier change, so its Vault-side steps still run; a manual demotion is refused.
};

struct DemotionRecord {
  std::int64_t id = 0;
  std::string timestamp;
  std::string agent_id;
  std::int64_t from_tier = 0;
  std::int64_t to_tier = 0;
  std::string demoted_by;
  std::string reason;
  DemotionSource source = DemotionSource::manual;
  std::optional<std::int64_t> violation_id;
};

// A reviewer's "no" (the webhook's promotion.denied): recorded in sidecar_denials; the tier
// does not change.
struct DenialRequest {
  std::string agent_id;
  std::int64_t target_tier = 0;
  std::string denied_by;
  std::optional<std::string> rationale;
  std::optional<std::string> review_id;
  std::optional<std::string> webhook_id;
  WallTime now;
};

struct DenialRecord {
  std::int64_t id = 0;
  std::string timestamp;
  std::string agent_id;
  std::int64_t current_tier = 0;
  std::int64_t target_tier = 0;
  std::string denied_by;
  std::optional<std::string> rationale;
  std::optional<std::string> review_id;
  std::optional<std::string> webhook_id;
};

// Called inside the denial's transaction after its row is inserted (the webhook delivery that
// answers it). A non-ok Status rolls the denial back and is returned by deny().
using DenialHook = std::function<Status(LedgerTx&, const DenialRecord&)>;

struct WebhookDelivery;  // engine/ledger/webhook_deliveries.h

struct AppliedMigration {
  int version = 0;
  std::string name;
  std::string applied_at;
};

class Ledger {
 public:
  // Opens an existing ledger and checks it has the upstream tables and columns.
  static Result<std::unique_ptr<Ledger>> open(const LedgerOptions& options);

  // The agent's facts at `now`; nullptr when the agent has no agent_metrics row.
  // invalid_data when its rows break the contract.
  Result<std::shared_ptr<const AgentFacts>> agent_facts(std::string_view agent_id, WallTime now);

  // Calls `sink` once per agent_metrics row, in the reference's `eligible` order (agent_id
  // by BINARY collation; rows without a usable id first), with the agent's facts or its
  // problem: bad agents do not fail the others. The facts come from one grouped pass per
  // fact kind (metrics, window actions, window violations, unparseable timestamps), never a
  // query per agent. With migration 1 applied the passes are merged in agent order and the
  // sink sees each agent as soon as it is complete (constant memory); without it they are
  // aggregated in memory first. All of it is one read transaction: the sink should be quick
  // (do not write to a terminal or pipe from it: a slow reader would hold the ledger's
  // read lock, and the platform's writers wait for it in rollback-journal mode).
  Status scan_agents(WallTime now, const AgentSink& sink, const ProgressFn& progress = {});

  // How many threads stepped the window query in the last scan_agents(): 0 when it ran on
  // the ledger's own connection (sequential).
  unsigned last_scan_threads() const { return last_scan_threads_; }

  // scan_agents() collected into vectors (tests, small ledgers).
  Result<AllAgentFacts> all_agent_facts(WallTime now, const ProgressFn& progress = {});

  // The agent's current tier, or nullopt when unknown. invalid_data as agent_facts().
  Result<std::optional<std::int64_t>> current_tier(std::string_view agent_id);

  // SELECT * FROM promotions [WHERE agent_id = ?] ORDER BY timestamp DESC LIMIT ?, ties in
  // insertion order (as the reference gets them from SQLite). A negative limit means no limit.
  Result<PromotionHistory> promotion_history(const std::optional<std::string>& agent_id,
                                             std::int64_t limit);

  // ---- schema (see engine/ledger/ledger_migrations.h) ----
  // Highest applied sidecar migration; 0 for an unmigrated ledger.
  Result<int> schema_version();
  // Applies every migration in `migrations` not yet recorded (version by version, so a
  // version added below an applied one is still applied), in version order, each in its own
  // BEGIN IMMEDIATE transaction together with its sidecar_schema_migrations row. Safe to run
  // concurrently from several processes and to repeat. Returns the ones this call applied.
  // `before_each` (optional) is told which migration is about to run (for a notice).
  Result<std::vector<AppliedMigration>> migrate(
      WallTime now, std::span<const Migration> migrations = ledger_migrations(),
      const std::function<void(const Migration&)>& before_each = {});
  Result<std::vector<AppliedMigration>> applied_migrations();
  // failed_precondition when the ledger has an applied version this build does not know, i.e.
  // it was migrated by a newer sidecar (write commands must not run: newer versions may
  // maintain invariants this one does not know).
  Status check_schema_not_newer(std::span<const Migration> migrations = ledger_migrations());

  // ---- writes ----
  // One write transaction: re-read the facts and re-evaluate, refuse unless ELIGIBLE or
  // PENDING_REVIEW (failed_precondition, message "Agent not eligible: <recommendation>"),
  // refuse if the tier is not request.expected_from_tier (aborted), set current_tier and
  // updated_at only where current_tier still holds the evaluated tier, insert the promotions
  // row, call `hook`, commit. Either all of it is committed or nothing is.
  Result<PromotionRecord> promote(const PromotionRequest& request, const Rules& rules,
                                  const TierChangeHook& hook = {});

  // Group commit (engine/ledger/ledger_promote_batch.cpp; the tier-change service's path): several
  // promotions in ONE write transaction, so one commit (one fsync) for all. Each runs exactly
  // as promote() would, inside its own SAVEPOINT: one that is refused or whose hook fails is
  // rolled back alone and gets its Status, the others commit together. When the transaction
  // itself fails (lock timeout, COMMIT), every entry gets that Status and nothing is
  // committed. Results are in request order.
  // `side` writes (another part's writes that share the commit: the sync workers' finishes)
  // run after the promotions, each in its own SAVEPOINT too; their Statuses go to
  // *side_results in order. `rules` may be null when `batch` is empty.
  struct BatchedPromotion {
    PromotionRequest request;
    TierChangeHook hook;
  };
  using SideWrite = std::function<Status(LedgerTx&)>;
  std::vector<Result<PromotionRecord>> promote_batch(std::span<const BatchedPromotion> batch,
                                                     const Rules* rules,
                                                     std::span<const SideWrite> side = {},
                                                     std::vector<Status>* side_results = nullptr);

  // One write transaction (engine/ledger/ledger_demote.cpp): the agent must exist (failed_precondition
  // otherwise), be above request.to_tier (failed_precondition: not a demotion; see
  // DemotionRequest for revocations) and, when expected_from_tier is set, still at it (aborted);
  // to_tier must be 0..4 (invalid_argument). Sets current_tier and updated_at where the tier
  // still holds, inserts the sidecar_demotions row, calls `hook` (kind demotion), commits.
  // Needs migrations 2 and 6 (failed_precondition).
  Result<DemotionRecord> demote(const DemotionRequest& request, const TierChangeHook& hook = {});

  // One write transaction (engine/ledger/ledger_deny.cpp): the agent must exist and be at
  // target_tier - 1 (failed_precondition otherwise, naming its tier); the denial row is
  // inserted, `hook` called, committed. Needs migration 5.
  Result<DenialRecord> deny(const DenialRequest& request, const DenialHook& hook = {});
  // Denials, newest first; agent_id empty = all; negative limit = no limit.
  Result<std::vector<DenialRecord>> denials(std::string_view agent_id, std::int64_t limit);
  // The stored webhook delivery with this id, or nullopt (engine/ledger/webhook_deliveries.h).
  Result<std::optional<WebhookDelivery>> find_delivery(std::string_view webhook_id);

  // ---- retention (engine/ledger/retention.h) ----
  // Deletes at most batch.limit rows of batch.table under that table's rules, in one
  // statement (one short implicit write transaction; the caller should not hold one open).
  // Returns the rows deleted. failed_precondition when the ledger is below migration 6.
  Result<std::int64_t> prune_batch(const PruneBatch& batch);

  const std::string& path() const { return conn_->path(); }

 private:
  friend class Revocations;  // engine/ledger/revocation.h: transactions over these internals
  Ledger(std::unique_ptr<sqlite::Connection> conn, const LedgerOptions& options)
      : conn_(std::move(conn)), options_(options) {}
  // demote() without BEGIN/COMMIT. REQUIRES: a write transaction is open.
  Result<DemotionRecord> demote_locked(const DemotionRequest& request, const TierChangeHook& hook);
  // promote() without BEGIN/COMMIT. REQUIRES: a write transaction is open.
  Result<PromotionRecord> promote_locked(const PromotionRequest& request, const Rules& rules,
                                         const TierChangeHook& hook);
  Status check_upstream_schema();
  Result<std::shared_ptr<const AgentFacts>> load_agent_facts(std::string_view agent_id,
                                                             const std::string& now_iso);
  Status scan_ordered(const std::string& now_iso, const AgentSink& sink,
                      const ProgressFn& progress);
  Status scan_in_memory(const std::string& now_iso, const AgentSink& sink,
                        const ProgressFn& progress);

  std::unique_ptr<sqlite::Connection> conn_;
  LedgerOptions options_;
  unsigned last_scan_threads_ = 0;
};

}  // namespace ps::engine
