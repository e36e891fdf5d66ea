// Violations to demotions, the freeze, and the promotion guard (see revocation.h).
#include "engine/ledger/revocation.h"

#include <algorithm>

namespace ps::engine {
namespace {

constexpr std::string_view kViolationColumns =
    "v.id, v.timestamp, v.agent_id, v.violation_type, v.severity, v.acknowledged";

// Reads kViolationColumns. Cells the platform left odd (NULL, numbers) read as text.
ViolationRow read_violation(const sqlite::Statement& s) {
  ViolationRow v;
  v.id = s.column_int(0);
  v.timestamp = std::string(s.column_text(1));
  v.agent_id = std::string(s.column_text(2));
  v.violation_type = std::string(s.column_text(3));
  v.severity = std::string(s.column_text(4));
  v.acknowledged = s.column_int(5) != 0;
  return v;
}

Result<std::vector<ViolationRow>> read_violations(sqlite::Statement& stmt) {
  std::vector<ViolationRow> out;
  for (;;) {
    auto row = stmt.step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    out.push_back(read_violation(stmt));
  }
  return out;
}

Result<bool> has_table(const sqlite::Connection& conn, std::string_view name) {
  auto stmt = conn.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1");
  if (!stmt.ok()) return stmt.status();
  stmt->bind(1, name);
  auto row = stmt->step();
  if (!row.ok()) return row.status();
  return *row;
}

Result<RevocationMark> read_mark(const sqlite::Connection& conn) {
  auto present = has_table(conn, "sidecar_revocation_mark");
  if (!present.ok()) return present.status();
  if (!*present) {
    return Status(Code::failed_precondition,
                  "the ledger has no revocation record yet (run `policy-sidecar migrate`)");
  }
  auto stmt = conn.prepare(
      "SELECT last_violation_id, started_at_id, updated_at FROM sidecar_revocation_mark "
      "WHERE id = 1");
  if (!stmt.ok()) return stmt.status();
  auto row = stmt->step();
  if (!row.ok()) return row.status();
  if (!*row) return Status(Code::internal, "sidecar_revocation_mark has no row");
  return RevocationMark{stmt->column_int(0), stmt->column_int(1), stmt->column_optional_text(2)};
}

// Rows at or below the mark without an outcome: inserted with an explicit id after the mark
// passed them. Counting first keeps the common case (none) to two counts. Only outcomes of
// violations still in the table count: the platform may delete handled violations (retention),
// and their outcome rows must not make up for a late row.
Result<std::vector<ViolationRow>> unhandled_below_mark(const sqlite::Connection& conn,
                                                       std::int64_t mark, std::int64_t limit) {
  auto counts = conn.prepare(
      "SELECT (SELECT COUNT(*) FROM violations WHERE id <= ?1), "
      "(SELECT COUNT(*) FROM sidecar_violation_outcomes o WHERE o.violation_id <= ?1 AND EXISTS "
      "(SELECT 1 FROM violations v WHERE v.id = o.violation_id))");
  if (!counts.ok()) return counts.status();
  counts->bind(1, mark);
  auto row = counts->step();
  if (!row.ok()) return row.status();
  if (counts->column_int(0) <= counts->column_int(1)) return std::vector<ViolationRow>{};
  auto stmt = conn.prepare(
      "SELECT " + std::string(kViolationColumns) +
      " FROM violations v WHERE v.id <= ?1 AND NOT EXISTS (SELECT 1 FROM "
      "sidecar_violation_outcomes o WHERE o.violation_id = v.id) ORDER BY v.id LIMIT ?2");
  if (!stmt.ok()) return stmt.status();
  stmt->bind(1, mark).bind(2, limit);
  return read_violations(*stmt);
}

Status record_outcome(const sqlite::Connection& conn, const ViolationOutcome& o,
                      const std::string& now_iso) {
  auto stmt = conn.prepare(
      "INSERT OR REPLACE INTO sidecar_violation_outcomes (violation_id, agent_id, severity, "
      "outcome, rule, demotion_id, handled_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
  if (!stmt.ok()) return stmt.status();
  std::optional<std::int64_t> demotion;
  if (o.demotion) demotion = o.demotion->id;
  stmt->bind(1, o.violation.id)
      .bind(2, std::string_view(o.violation.agent_id))
      .bind(3, std::string_view(o.violation.severity))
      .bind(4, std::string_view(o.outcome))
      .bind(5, std::string_view(o.rule))
      .bind(6, demotion)
      .bind(7, std::string_view(now_iso));
  return stmt->run();
}

}  // namespace

Result<FreezeState> read_freeze_state(const sqlite::Connection& conn) {
  auto present = has_table(conn, "sidecar_freeze");
  if (!present.ok()) return present.status();
  FreezeState state;
  if (!*present) return state;
  auto stmt =
      conn.prepare("SELECT frozen, reason, changed_by, changed_at FROM sidecar_freeze WHERE id = 1");
  if (!stmt.ok()) return stmt.status();
  auto row = stmt->step();
  if (!row.ok()) return row.status();
  if (!*row) return state;
  state.frozen = stmt->column_int(0) != 0;
  state.reason = std::string(stmt->column_text(1));
  state.by = std::string(stmt->column_text(2));
  state.since = std::string(stmt->column_text(3));
  return state;
}

namespace {

Status write_freeze(const sqlite::Connection& conn, bool frozen, const std::string& reason,
                    const std::string& by, const std::string& now_iso) {
  auto stmt = conn.prepare(
      "INSERT OR REPLACE INTO sidecar_freeze (id, frozen, reason, changed_by, changed_at) "
      "VALUES (1, ?1, ?2, ?3, ?4)");
  if (!stmt.ok()) return stmt.status();
  stmt->bind(1, std::int64_t{frozen ? 1 : 0})
      .bind(2, std::string_view(reason))
      .bind(3, std::string_view(by))
      .bind(4, std::string_view(now_iso));
  return stmt->run();
}

}  // namespace

Result<FreezeState> freeze_state(LedgerTx& tx) { return read_freeze_state(tx.connection()); }

Result<std::vector<ViolationRow>> unhandled_violations(LedgerTx& tx, std::string_view agent_id) {
  const sqlite::Connection& conn = tx.connection();
  auto present = has_table(conn, "sidecar_revocation_mark");
  if (!present.ok()) return present.status();
  if (!*present) return std::vector<ViolationRow>{};
  auto stmt = conn.prepare(
      "SELECT " + std::string(kViolationColumns) +
      " FROM violations v WHERE v.agent_id = ?1 AND (v.id > (SELECT last_violation_id FROM "
      "sidecar_revocation_mark WHERE id = 1) OR NOT EXISTS (SELECT 1 FROM "
      "sidecar_violation_outcomes o WHERE o.violation_id = v.id)) ORDER BY v.id");
  if (!stmt.ok()) return stmt.status();
  stmt->bind(1, agent_id);
  return read_violations(*stmt);
}

// Whether a scan has anything to do, read without the write lock: an idle watcher polling
// every few seconds must not take the platform's write lock or change the file.
Result<bool> Revocations::work_due(const ViolationScan& scan) {
  if (scan.from_id) return true;
  sqlite::Connection& conn = *ledger_.conn_;
  auto tx = sqlite::Transaction::begin(conn, sqlite::Transaction::Kind::read);
  if (!tx.ok()) return tx.status();
  auto mark = read_mark(conn);
  if (!mark.ok()) return mark.status();
  auto after = conn.prepare("SELECT EXISTS (SELECT 1 FROM violations WHERE id > ?1)");
  if (!after.ok()) return after.status();
  after->bind(1, mark->last_violation_id);
  auto row = after->step();
  if (!row.ok()) return row.status();
  if (after->column_int(0) != 0) return true;
  auto below = unhandled_below_mark(conn, mark->last_violation_id, 1);
  if (!below.ok()) return below.status();
  return !below->empty();
}

Result<ViolationScanResult> Revocations::apply_violations(const ViolationScan& scan,
                                                          const ViolationDecider& decide,
                                                          const TierChangeHook& hook) {
  auto due = work_due(scan);
  if (!due.ok()) return due.status();
  if (!*due) {
    auto mark = this->mark();
    if (!mark.ok()) return mark.status();
    ViolationScanResult idle;
    idle.mark_before = idle.mark_after = mark->last_violation_id;
    return idle;
  }
  sqlite::Connection& conn = *ledger_.conn_;
  auto tx = sqlite::Transaction::begin(conn, sqlite::Transaction::Kind::write);
  if (!tx.ok()) return tx.status();
  auto mark = read_mark(conn);
  if (!mark.ok()) return mark.status();
  ViolationScanResult result;
  result.mark_before = result.mark_after = mark->last_violation_id;

  std::vector<ViolationRow> below;
  if (!scan.from_id) {
    auto found = unhandled_below_mark(conn, mark->last_violation_id, scan.limit);
    if (!found.ok()) return found.status();
    below = std::move(found).value();
  }
  auto after = conn.prepare("SELECT " + std::string(kViolationColumns) +
                            " FROM violations v WHERE v.id > ?1 ORDER BY v.id LIMIT ?2");
  if (!after.ok()) return after.status();
  after->bind(1, scan.from_id ? *scan.from_id - 1 : mark->last_violation_id).bind(2, scan.limit);
  auto rows = read_violations(*after);
  if (!rows.ok()) return rows.status();
  result.more = static_cast<std::int64_t>(rows->size()) == scan.limit;

  const std::string now_iso = format_isoformat_utc(scan.now);
  auto handle = [&](const ViolationRow& v, bool below_mark) -> Status {
    auto outcome = apply_one(v, scan, decide, hook);
    if (!outcome.ok()) return outcome.status();
    outcome->below_mark = below_mark;
    if (Status s = record_outcome(conn, *outcome, now_iso); !s.ok()) return s;
    result.outcomes.push_back(std::move(outcome).value());
    return Status::success();
  };
  for (const ViolationRow& v : below) {
    if (Status s = handle(v, true); !s.ok()) return s;
  }
  for (const ViolationRow& v : *rows) {
    if (Status s = handle(v, v.id <= mark->last_violation_id); !s.ok()) return s;
    result.mark_after = std::max(result.mark_after, v.id);
  }
  auto update = conn.prepare(
      "UPDATE sidecar_revocation_mark SET last_violation_id = ?1, updated_at = ?2 WHERE id = 1");
  if (!update.ok()) return update.status();
  update->bind(1, result.mark_after).bind(2, std::string_view(now_iso));
  if (Status s = update->run(); !s.ok()) return s;
  if (Status s = tx->commit(); !s.ok()) return s;
  return result;
}

// One violation against the agent's tier at this moment (inside the scan's transaction).
Result<ViolationOutcome> Revocations::apply_one(const ViolationRow& v, const ViolationScan& scan,
                                                const ViolationDecider& decide,
                                                const TierChangeHook& hook) {
  ViolationOutcome o;
  o.violation = v;
  auto tier = ledger_.current_tier(v.agent_id);
  if (!tier.ok()) {
    if (tier.status().code() != Code::invalid_data) return tier.status();
    o.outcome = "invalid_agent_data";
    o.rule = tier.status().message();
    return o;
  }
  if (!*tier) {
    o.outcome = "unknown_agent";
    return o;
  }
  const ViolationDecision d = decide(v, **tier);
  o.rule = d.rule;
  if (d.kind == ViolationDecision::Kind::invalid_severity) {
    o.outcome = "invalid_severity";
    return o;
  }
  if (d.kind == ViolationDecision::Kind::none) {
    o.outcome = "no_action";
    return o;
  }
  DemotionRequest request;
  request.agent_id = v.agent_id;
  request.to_tier = d.to_tier;
  request.demoted_by = scan.by;
  request.reason = "violation " + std::to_string(v.id) + " (" + v.violation_type + ", " +
                   v.severity + "): " + d.rule;
  request.expected_from_tier = **tier;
  request.now = scan.now;
  request.source = DemotionSource::violation;
  request.violation_id = v.id;
  auto record = ledger_.demote_locked(request, hook);
  if (!record.ok()) return record.status();
  o.outcome = "demoted";
  o.demotion = std::move(record).value();
  return o;
}

Result<FreezeResult> Revocations::freeze(const FreezeRequest& request,
                                         const TierChangeHook& hook) {
  sqlite::Connection& conn = *ledger_.conn_;
  auto tx = sqlite::Transaction::begin(conn, sqlite::Transaction::Kind::write);
  if (!tx.ok()) return tx.status();
  auto present = has_table(conn, "sidecar_freeze");
  if (!present.ok()) return present.status();
  if (!*present) {
    return Status(Code::failed_precondition,
                  "the ledger has no freeze record yet (run `policy-sidecar migrate`)");
  }
  auto state = read_freeze_state(conn);
  if (!state.ok()) return state.status();
  if (state->frozen) {
    return Status(Code::failed_precondition, "already frozen since " + state->since.value_or("?") +
                                                 " by " + state->by + ": " + state->reason);
  }
  const std::string now_iso = format_isoformat_utc(request.now);
  if (Status s = write_freeze(conn, true, request.reason, request.by, now_iso); !s.ok()) return s;
  auto agents = conn.prepare("SELECT agent_id FROM agent_metrics ORDER BY agent_id");
  if (!agents.ok()) return agents.status();
  std::vector<std::string> ids;
  for (;;) {
    auto row = agents->step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    ids.emplace_back(agents->column_text(0));
  }
  FreezeResult result;
  for (const std::string& id : ids) {
    DemotionRequest d{id, 0, request.by, "freeze: " + request.reason, std::nullopt,
                      request.now, DemotionSource::freeze, std::nullopt};
    auto record = ledger_.demote_locked(d, hook);
    if (!record.ok()) {
      if (record.status().code() != Code::invalid_data) return record.status();
      result.invalid.push_back(record.status().message());
      continue;
    }
    ++result.agents;
    if (record->to_tier < record->from_tier) ++result.demoted;
  }
  if (Status s = tx->commit(); !s.ok()) return s;
  return result;
}

Status Revocations::unfreeze(const std::string& by, WallTime now) {
  sqlite::Connection& conn = *ledger_.conn_;
  auto tx = sqlite::Transaction::begin(conn, sqlite::Transaction::Kind::write);
  if (!tx.ok()) return tx.status();
  auto state = read_freeze_state(conn);
  if (!state.ok()) return state.status();
  if (!state->frozen) return Status(Code::failed_precondition, "not frozen");
  if (Status s = write_freeze(conn, false, state->reason, by, format_isoformat_utc(now)); !s.ok()) {
    return s;
  }
  return tx->commit();
}

Result<FreezeState> Revocations::freeze_state() { return read_freeze_state(*ledger_.conn_); }

Result<RevocationMark> Revocations::mark() { return read_mark(*ledger_.conn_); }

Result<std::vector<ViolationOutcome>> Revocations::recent_outcomes(std::int64_t limit) {
  auto stmt = ledger_.conn_->prepare(
      "SELECT o.violation_id, COALESCE(v.timestamp, ''), COALESCE(o.agent_id, ''), "
      "COALESCE(v.violation_type, ''), COALESCE(o.severity, ''), COALESCE(v.acknowledged, 0), "
      "o.outcome, COALESCE(o.rule, '') FROM sidecar_violation_outcomes o LEFT JOIN violations v "
      "ON v.id = o.violation_id WHERE o.outcome <> 'before_sidecar' "
      "ORDER BY o.violation_id DESC LIMIT ?1");
  if (!stmt.ok()) return stmt.status();
  stmt->bind(1, limit);
  std::vector<ViolationOutcome> out;
  for (;;) {
    auto row = stmt->step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    ViolationOutcome o;
    o.violation = read_violation(*stmt);
    o.outcome = std::string(stmt->column_text(6));
    o.rule = std::string(stmt->column_text(7));
    out.push_back(std::move(o));
  }
  return out;
}

}  // namespace ps::engine
