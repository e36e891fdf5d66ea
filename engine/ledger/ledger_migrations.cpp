#include "engine/ledger/ledger_migrations.h"

#include <algorithm>

#include "engine/ledger/ledger.h"

namespace ps::engine {
namespace {

// Migration 1: the indexes evaluation needs. Their expression is the reference engine's window
// expression, datetime(timestamp), so the queries keep its exact semantics:
//  - sidecar_actions_agent_window: an agent's window rows are one contiguous range
//    (agent_id = ? AND datetime(timestamp) >= ?). `eligible` walks agent_metrics in agent_id
//    order and seeks this range for each agent, so window rows arrive grouped by agent and
//    older history is skipped, however long the ledger; evaluate/promote use one range.
//    action, decision and success are in the index, so the table is never read. `id` comes
//    third so that rows within the same second stay in insertion order (the order in which
//    the reference engine, which also uses this index once it exists, lists action types).
//  - sidecar_*_bad_timestamp: partial indexes holding only rows whose timestamp does not
//    parse (datetime() IS NULL), which the sidecar reports as invalid data. Normally empty.
//  - sidecar_violations_agent_window: the same range per agent for violations.
// Caveat: SQLite refuses to index datetime('now') (not deterministic), so a row whose
// timestamp is the literal text 'now' makes this migration fail (and, once applied, makes
// such an insert fail). The platform writes isoformat timestamps; README documents it.
constexpr std::string_view kEvaluationIndexes = R"sql(
CREATE INDEX IF NOT EXISTS sidecar_actions_agent_window
  ON agent_actions(agent_id, datetime(timestamp), id, action, decision, success);
CREATE INDEX IF NOT EXISTS sidecar_actions_bad_timestamp
  ON agent_actions(agent_id) WHERE datetime(timestamp) IS NULL;
CREATE INDEX IF NOT EXISTS sidecar_violations_agent_window
  ON violations(agent_id, datetime(timestamp));
CREATE INDEX IF NOT EXISTS sidecar_violations_bad_timestamp
  ON violations(agent_id) WHERE datetime(timestamp) IS NULL;
)sql";

// Migration 2: the outbox (engine/ledger/outbox.h) and the demotion record.
constexpr std::string_view kOutboxMigration = R"sql(
CREATE TABLE IF NOT EXISTS sidecar_outbox (
  agent_id          TEXT PRIMARY KEY,
  role              TEXT,
  tier              INTEGER NOT NULL,
  policies          TEXT NOT NULL,
  kind              TEXT NOT NULL,
  priority          INTEGER NOT NULL,
  generation        INTEGER NOT NULL,
  synced_generation INTEGER NOT NULL DEFAULT 0,
  revision          INTEGER NOT NULL DEFAULT 0,
  state             TEXT NOT NULL CHECK (state IN ('pending', 'synced', 'failed')),
  attempts          INTEGER NOT NULL DEFAULT 0,
  next_attempt_ms   INTEGER NOT NULL,
  changed_ms        INTEGER NOT NULL,
  pending_since_ms  INTEGER,
  error_code        TEXT,
  last_error        TEXT,
  lease_owner       TEXT,
  lease_until_ms    INTEGER,
  created_at        TEXT NOT NULL,
  updated_at        TEXT NOT NULL,
  synced_at         TEXT
);
CREATE INDEX IF NOT EXISTS sidecar_outbox_due ON sidecar_outbox(state, priority, changed_ms);
CREATE TABLE IF NOT EXISTS sidecar_demotions (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  timestamp  TEXT NOT NULL,
  agent_id   TEXT NOT NULL,
  from_tier  INTEGER NOT NULL,
  to_tier    INTEGER NOT NULL,
  demoted_by TEXT NOT NULL,
  reason     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sidecar_demotions_agent ON sidecar_demotions(agent_id, id);
)sql";

// Migration 3: sync history and drift records.
constexpr std::string_view kSyncRecordsMigration = R"sql(
CREATE TABLE IF NOT EXISTS sidecar_sync_history (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  at         TEXT NOT NULL,
  agent_id   TEXT NOT NULL,
  role       TEXT,
  tier       INTEGER NOT NULL,
  generation INTEGER NOT NULL,
  outcome    TEXT NOT NULL,
  policies   TEXT,
  error_code TEXT,
  message    TEXT,
  attempt    INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sidecar_sync_history_agent ON sidecar_sync_history(agent_id, id);
CREATE TABLE IF NOT EXISTS sidecar_drift (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  found_at   TEXT NOT NULL,
  agent_id   TEXT NOT NULL,
  role       TEXT NOT NULL,
  kind       TEXT NOT NULL,
  expected   TEXT NOT NULL,
  found      TEXT,
  mode       TEXT NOT NULL,
  action     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sidecar_drift_agent ON sidecar_drift(agent_id, id);
)sql";

// Migration 4: webhook deliveries (engine/ledger/webhook_deliveries.h); migration 5: denials
// (Ledger::deny).
constexpr std::string_view kWebhookDeliveriesMigration = R"sql(
CREATE TABLE IF NOT EXISTS sidecar_webhook_deliveries (
  webhook_id        TEXT PRIMARY KEY,
  received_at       TEXT NOT NULL,
  webhook_timestamp INTEGER NOT NULL,
  body_sha256       TEXT NOT NULL,
  event_type        TEXT NOT NULL,
  agent_id          TEXT NOT NULL,
  target_tier       INTEGER NOT NULL,
  actor             TEXT NOT NULL,
  review_id         TEXT,
  http_status       INTEGER NOT NULL,
  response          TEXT NOT NULL,
  promotion_id      INTEGER,
  denial_id         INTEGER
);
CREATE INDEX IF NOT EXISTS sidecar_webhook_deliveries_agent
  ON sidecar_webhook_deliveries(agent_id, received_at);
)sql";

constexpr std::string_view kDenialsMigration = R"sql(
CREATE TABLE IF NOT EXISTS sidecar_denials (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  timestamp    TEXT NOT NULL,
  agent_id     TEXT NOT NULL,
  current_tier INTEGER NOT NULL,
  target_tier  INTEGER NOT NULL,
  denied_by    TEXT NOT NULL,
  rationale    TEXT,
  review_id    TEXT,
  webhook_id   TEXT
);
CREATE INDEX IF NOT EXISTS sidecar_denials_agent ON sidecar_denials(agent_id, id);
)sql";


// Migration 6: revocation (engine/ledger/revocation.h, engine/ledger/revocation_steps.h). The
// mark starts at the highest existing violation id: violations older than the sidecar are not
// acted on, and each of them gets a 'before_sidecar' outcome so that a row inserted later with
// an id below the mark is recognised as new.
constexpr std::string_view kRevocationMigration = R"sql(
ALTER TABLE sidecar_demotions ADD COLUMN source TEXT NOT NULL DEFAULT 'manual';
ALTER TABLE sidecar_demotions ADD COLUMN violation_id INTEGER;
CREATE TABLE IF NOT EXISTS sidecar_revocation_mark (
  id                INTEGER PRIMARY KEY CHECK (id = 1),
  last_violation_id INTEGER NOT NULL,
  started_at_id     INTEGER NOT NULL,
  updated_at        TEXT
);
INSERT OR IGNORE INTO sidecar_revocation_mark (id, last_violation_id, started_at_id)
  SELECT 1, COALESCE(MAX(id), 0), COALESCE(MAX(id), 0) FROM violations;
CREATE TABLE IF NOT EXISTS sidecar_violation_outcomes (
  violation_id INTEGER PRIMARY KEY,
  agent_id     TEXT,
  severity     TEXT,
  outcome      TEXT NOT NULL,
  rule         TEXT,
  demotion_id  INTEGER,
  handled_at   TEXT
);
INSERT OR IGNORE INTO sidecar_violation_outcomes (violation_id, agent_id, severity, outcome)
  SELECT id, agent_id, severity, 'before_sidecar' FROM violations;
CREATE TABLE IF NOT EXISTS sidecar_freeze (
  id          INTEGER PRIMARY KEY CHECK (id = 1),
  frozen      INTEGER NOT NULL,
  reason      TEXT NOT NULL,
  changed_by  TEXT NOT NULL,
  changed_at  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sidecar_revocation_steps (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  agent_id        TEXT NOT NULL,
  role            TEXT,
  demotion_id     INTEGER NOT NULL,
  step            TEXT NOT NULL CHECK (step IN ('destroy_secret_ids', 'revoke_tokens')),
  tier            INTEGER NOT NULL,
  cutoff_ms       INTEGER NOT NULL,
  state           TEXT NOT NULL CHECK (state IN ('pending', 'done', 'failed')),
  revision        INTEGER NOT NULL DEFAULT 0,
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_ms INTEGER NOT NULL,
  error_code      TEXT,
  last_error      TEXT,
  lease_owner     TEXT,
  lease_until_ms  INTEGER,
  detail          TEXT,
  created_at      TEXT NOT NULL,
  updated_at      TEXT NOT NULL,
  done_at         TEXT
);
CREATE INDEX IF NOT EXISTS sidecar_revocation_steps_due
  ON sidecar_revocation_steps(state, next_attempt_ms);
CREATE INDEX IF NOT EXISTS sidecar_revocation_steps_agent
  ON sidecar_revocation_steps(agent_id, id);
)sql";

// Migration 7: agent ids that differ only in case share one Vault role (role names are
// case-insensitive); this index finds an agent's sharers without a scan.
constexpr std::string_view kRoleCollisionsMigration = R"sql(
CREATE INDEX IF NOT EXISTS sidecar_metrics_lower_id ON agent_metrics(lower(agent_id));
)sql";

constexpr Migration kMigrations[] = {
    {1, "evaluation_indexes", kEvaluationIndexes},
    {2, "sync_outbox", kOutboxMigration},
    {3, "sync_history_drift", kSyncRecordsMigration},
    {4, "webhook_deliveries", kWebhookDeliveriesMigration},
    {5, "denials", kDenialsMigration},
    {6, "revocation", kRevocationMigration},
    {7, "role_collisions", kRoleCollisionsMigration},
};

constexpr std::string_view kCreateMigrationsTable = R"sql(
CREATE TABLE IF NOT EXISTS sidecar_schema_migrations (
  version    INTEGER PRIMARY KEY,
  name       TEXT NOT NULL,
  applied_at TEXT NOT NULL
))sql";

}  // namespace

std::span<const Migration> ledger_migrations() { return kMigrations; }

Result<int> Ledger::schema_version() {
  auto stmt = conn_->prepare(
      "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sidecar_schema_migrations'");
  if (!stmt.ok()) return stmt.status();
  auto has = stmt->step();
  if (!has.ok()) return has.status();
  if (!*has) return 0;
  auto max = conn_->prepare("SELECT COALESCE(MAX(version), 0) FROM sidecar_schema_migrations");
  if (!max.ok()) return max.status();
  auto row = max->step();
  if (!row.ok()) return row.status();
  return static_cast<int>(max->column_int(0));
}

Result<std::vector<AppliedMigration>> Ledger::applied_migrations() {
  auto version = schema_version();
  if (!version.ok()) return version.status();
  std::vector<AppliedMigration> out;
  if (*version == 0) return out;
  auto stmt = conn_->prepare(
      "SELECT version, name, applied_at FROM sidecar_schema_migrations ORDER BY version");
  if (!stmt.ok()) return stmt.status();
  for (;;) {
    auto row = stmt->step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    out.push_back({static_cast<int>(stmt->column_int(0)), std::string(stmt->column_text(1)),
                   std::string(stmt->column_text(2))});
  }
  return out;
}

// Any applied version this build does not know was written by another (newer) sidecar,
// whether above our latest or in a gap between versions we know.
Status Ledger::check_schema_not_newer(std::span<const Migration> migrations) {
  auto applied = applied_migrations();
  if (!applied.ok()) return applied.status();
  int known = 0;
  for (const Migration& m : migrations) known = std::max(known, m.version);
  for (const AppliedMigration& a : *applied) {
    const bool is_known = std::any_of(migrations.begin(), migrations.end(),
                                      [&](const Migration& m) { return m.version == a.version; });
    if (is_known) continue;
    if (a.version > known) {
      return {Code::failed_precondition,
              "ledger schema version " + std::to_string(a.version) +
                  " is newer than this policy-sidecar supports (" + std::to_string(known) +
                  "); upgrade policy-sidecar before writing to this ledger"};
    }
    return {Code::failed_precondition,
            "ledger schema version " + std::to_string(a.version) + " (" + a.name +
                ") is unknown to this policy-sidecar; upgrade policy-sidecar before writing "
                "to this ledger"};
  }
  return Status::success();
}

Result<std::vector<AppliedMigration>> Ledger::migrate(
    WallTime now, std::span<const Migration> migrations,
    const std::function<void(const Migration&)>& before_each) {
  std::vector<AppliedMigration> applied;
  const std::string applied_at = format_isoformat_utc(now);
  // Versions are checked one by one, not against the highest: features may add versions
  // below one that a ledger already has.
  auto before = applied_migrations();
  if (!before.ok()) return before.status();
  auto is_applied = [&](int version) {
    return std::any_of(before->begin(), before->end(),
                       [&](const AppliedMigration& a) { return a.version == version; });
  };

  std::vector<Migration> ordered(migrations.begin(), migrations.end());
  std::sort(ordered.begin(), ordered.end(),
            [](const Migration& a, const Migration& b) { return a.version < b.version; });
  for (const Migration& m : ordered) {
    if (is_applied(m.version)) continue;
    if (before_each) before_each(m);
    auto tx = sqlite::Transaction::begin(*conn_, sqlite::Transaction::Kind::write);
    if (!tx.ok()) return tx.status();
    if (Status s = conn_->exec(kCreateMigrationsTable); !s.ok()) return s;
    // Another process may have applied it between our read and our lock.
    auto done = conn_->prepare("SELECT 1 FROM sidecar_schema_migrations WHERE version = ?1");
    if (!done.ok()) return done.status();
    done->bind(1, std::int64_t{m.version});
    auto already = done->step();
    if (!already.ok()) return already.status();
    if (*already) continue;  // the transaction rolls back on scope exit
    if (Status s = conn_->exec(m.sql); !s.ok()) {
      return Status(s.code(), "migration " + std::to_string(m.version) + " (" +
                                  std::string(m.name) + ") failed, nothing applied: " +
                                  s.message());
    }
    auto record = conn_->prepare(
        "INSERT INTO sidecar_schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)");
    if (!record.ok()) return record.status();
    record->bind(1, std::int64_t{m.version}).bind(2, m.name).bind(3, std::string_view(applied_at));
    if (Status s = record->run(); !s.ok()) return s;
    if (Status s = tx->commit(); !s.ok()) return s;
    applied.push_back({m.version, std::string(m.name), applied_at});
  }
  return applied;
}

}  // namespace ps::engine
