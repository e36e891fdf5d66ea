#include "engine/ledger/outbox.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "engine/ledger/outbox_sql.h"
#include "engine/ledger/revocation.h"

namespace ps::engine {

using outbox_sql::column_list;

std::string_view to_string(OutboxState state) {
  switch (state) {
    case OutboxState::pending: return "pending";
    case OutboxState::synced: return "synced";
    case OutboxState::failed: return "failed";
  }
  return "pending";
}

std::optional<OutboxState> outbox_state_from(std::string_view text) {
  if (text == "pending") return OutboxState::pending;
  if (text == "synced") return OutboxState::synced;
  if (text == "failed") return OutboxState::failed;
  return std::nullopt;
}

std::string_view to_string(ChangeKind kind) {
  switch (kind) {
    case ChangeKind::demotion: return "demotion";
    case ChangeKind::promotion: return "promotion";
    case ChangeKind::repair: return "repair";
  }
  return "promotion";
}

std::optional<ChangeKind> change_kind_from(std::string_view text) {
  if (text == "demotion") return ChangeKind::demotion;
  if (text == "promotion") return ChangeKind::promotion;
  if (text == "repair") return ChangeKind::repair;
  return std::nullopt;
}

std::int64_t to_unix_ms(WallTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

WallTime from_unix_ms(std::int64_t ms) {
  return WallTime{std::chrono::duration_cast<WallTime::duration>(std::chrono::milliseconds{ms})};
}

namespace outbox_sql {

std::string policies_json(const std::vector<std::string>& policies) {
  return nlohmann::json(policies).dump();
}

std::vector<std::string> policies_from_json(std::string_view text) {
  auto j = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
  std::vector<std::string> out;
  if (!j.is_array()) return out;
  for (const auto& v : j) {
    if (v.is_string()) out.push_back(v.get<std::string>());
  }
  return out;
}

OutboxRow read_row(const sqlite::Statement& s, int first) {
  OutboxRow r;
  int c = first;
  r.agent_id = std::string(s.column_text(c++));
  r.role = s.column_optional_text(c++);
  r.tier = s.column_int(c++);
  r.policies = policies_from_json(s.column_text(c++));
  r.kind = change_kind_from(s.column_text(c++)).value_or(ChangeKind::promotion);
  r.generation = s.column_int(c++);
  r.synced_generation = s.column_int(c++);
  r.revision = s.column_int(c++);
  r.state = outbox_state_from(s.column_text(c++)).value_or(OutboxState::pending);
  r.attempts = s.column_int(c++);
  r.next_attempt_at = from_unix_ms(s.column_int(c++));
  r.changed_at = from_unix_ms(s.column_int(c++));
  if (auto v = s.column_optional_int(c++)) r.pending_since = from_unix_ms(*v);
  r.error_code = s.column_optional_text(c++);
  r.last_error = s.column_optional_text(c++);
  r.lease_owner = s.column_optional_text(c++);
  if (auto v = s.column_optional_int(c++)) r.lease_until = from_unix_ms(*v);
  r.created_at = std::string(s.column_text(c++));
  r.updated_at = std::string(s.column_text(c++));
  r.synced_at = s.column_optional_text(c++);
  return r;
}

Status require_tables(sqlite::Connection& conn) {
  auto stmt = conn.prepare(
      "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN "
      "('sidecar_outbox', 'sidecar_sync_history', 'sidecar_drift', 'sidecar_demotions')");
  if (!stmt.ok()) return stmt.status();
  auto row = stmt->step();
  if (!row.ok()) return row.status();
  if (stmt->column_int(0) != 4) {
    return {Code::failed_precondition,
            "the ledger has no sync outbox yet (run `policy-sidecar migrate`): " + conn.path()};
  }
  return Status::success();
}

}  // namespace outbox_sql

using namespace outbox_sql;

Status write_desired_state(LedgerTx& tx, const DesiredChange& change, std::int64_t* generation) {
  const std::int64_t at_ms = to_unix_ms(change.at);
  const std::string at_iso = format_isoformat_utc(change.at);
  const bool parked = change.problem.has_value() || !change.role;
  // The whole row is replaced by the new desired state; generation and revision only grow.
  // pending_since keeps the first unconfirmed change while the row was already unsynced.
  auto stmt = tx.prepare(
      "INSERT INTO sidecar_outbox (agent_id, role, tier, policies, kind, priority, generation, "
      "synced_generation, revision, state, attempts, next_attempt_ms, changed_ms, "
      "pending_since_ms, error_code, last_error, lease_owner, lease_until_ms, created_at, "
      "updated_at) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, 0, 1, ?7, 0, ?8, ?8, ?8, ?9, ?10, ?12, ?13, ?11, ?11) "
      "ON CONFLICT(agent_id) DO UPDATE SET role = excluded.role, tier = excluded.tier, "
      "policies = excluded.policies, kind = excluded.kind, priority = excluded.priority, "
      "generation = sidecar_outbox.generation + 1, revision = sidecar_outbox.revision + 1, "
      "state = excluded.state, attempts = 0, next_attempt_ms = excluded.next_attempt_ms, "
      "changed_ms = excluded.changed_ms, "
      "pending_since_ms = CASE WHEN sidecar_outbox.state = 'synced' THEN excluded.changed_ms "
      "  ELSE COALESCE(sidecar_outbox.pending_since_ms, excluded.changed_ms) END, "
      "error_code = excluded.error_code, last_error = excluded.last_error, "
      // A live lease stays (its push will find the row superseded and release it).
      "lease_owner = CASE WHEN sidecar_outbox.lease_until_ms > ?8 THEN sidecar_outbox.lease_owner "
      "  ELSE excluded.lease_owner END, "
      "lease_until_ms = CASE WHEN sidecar_outbox.lease_until_ms > ?8 "
      "  THEN sidecar_outbox.lease_until_ms ELSE excluded.lease_until_ms END, "
      "updated_at = excluded.updated_at "
      "RETURNING generation");
  if (!stmt.ok()) return stmt.status();
  stmt->bind(1, std::string_view(change.agent_id));
  stmt->bind(2, change.role);
  stmt->bind(3, change.tier)
      .bind(4, std::string_view(policies_json(change.policies)))
      .bind(5, to_string(change.kind))
      .bind(6, std::int64_t{change.kind == ChangeKind::demotion ? 0 : 1})
      .bind(7, parked ? std::string_view("failed") : std::string_view("pending"))
      .bind(8, at_ms);
  if (parked) {
    stmt->bind(9, std::string_view(change.problem_code))
        .bind(10, std::string_view(change.problem.value_or("the agent id cannot name a role")));
  } else {
    stmt->bind(9, SqlValue{}).bind(10, SqlValue{});
  }
  stmt->bind(11, std::string_view(at_iso));
  if (change.lease_owner && !parked) {
    stmt->bind(12, std::string_view(*change.lease_owner))
        .bind(13, to_unix_ms(change.lease_until));
  } else {
    stmt->bind(12, SqlValue{}).bind(13, SqlValue{});
  }
  auto row = stmt->step();
  if (!row.ok()) return row.status();
  if (!*row) return {Code::internal, "outbox upsert returned no generation"};
  if (generation) *generation = stmt->column_int(0);
  return stmt->run();
}

Result<std::vector<RoleSharer>> role_sharers(LedgerTx& tx, std::string_view agent_id) {
  auto stmt = tx.prepare(
      "SELECT agent_id, current_tier FROM agent_metrics WHERE lower(agent_id) = lower(?1) "
      "AND agent_id <> ?1 AND typeof(current_tier) = 'integer'");
  if (!stmt.ok()) return stmt.status();
  stmt->bind(1, agent_id);
  std::vector<RoleSharer> out;
  for (;;) {
    auto row = stmt->step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    out.push_back({std::string(stmt->column_text(0)), stmt->column_int(1)});
  }
  return out;
}

Result<std::unique_ptr<Outbox>> Outbox::open(const LedgerOptions& options) {
  auto conn = sqlite::Connection::open_existing(options.path, options.busy_timeout_ms);
  if (!conn.ok()) return conn.status();
  if (Status s = require_tables(**conn); !s.ok()) return s;
  if (options.read_only) {
    if (Status s = (*conn)->exec("PRAGMA query_only = ON"); !s.ok()) return s;
  }
  return std::unique_ptr<Outbox>(new Outbox(std::move(conn).value()));
}

Result<std::optional<OutboxRow>> Outbox::row(std::string_view agent_id) {
  auto stmt = conn_->prepare("SELECT " + column_list() +
                             " FROM sidecar_outbox WHERE agent_id = ?1");
  if (!stmt.ok()) return stmt.status();
  stmt->bind(1, agent_id);
  auto has = stmt->step();
  if (!has.ok()) return has.status();
  if (!*has) return std::optional<OutboxRow>{};
  return std::optional<OutboxRow>{read_row(*stmt, 0)};
}

Result<std::vector<OutboxRow>> Outbox::rows(std::optional<OutboxState> state, std::int64_t limit) {
  std::string sql = "SELECT " + column_list() + " FROM sidecar_outbox";
  if (state) sql += " WHERE state = ?1";
  sql += " ORDER BY agent_id LIMIT ?2";
  auto stmt = conn_->prepare(sql);
  if (!stmt.ok()) return stmt.status();
  if (state) stmt->bind(1, to_string(*state));
  stmt->bind(2, limit);
  std::vector<OutboxRow> out;
  for (;;) {
    auto has = stmt->step();
    if (!has.ok()) return has.status();
    if (!*has) break;
    out.push_back(read_row(*stmt, 0));
  }
  return out;
}

Result<std::optional<WallTime>> Outbox::next_due() {
  auto stmt = conn_->prepare(
      "SELECT MIN(next_attempt_ms) FROM sidecar_outbox WHERE state = 'pending'");
  if (!stmt.ok()) return stmt.status();
  auto has = stmt->step();
  if (!has.ok()) return has.status();
  if (stmt->column_is_null(0)) return std::optional<WallTime>{};
  return std::optional<WallTime>{from_unix_ms(stmt->column_int(0))};
}

Result<std::int64_t> Outbox::make_all_due(WallTime now) {
  auto stmt = conn_->prepare(
      "UPDATE sidecar_outbox SET next_attempt_ms = ?1 "
      "WHERE state = 'pending' AND next_attempt_ms > ?1");
  if (!stmt.ok()) return stmt.status();
  stmt->bind(1, to_unix_ms(now));
  if (Status s = stmt->run(); !s.ok()) return s;
  return conn_->changes();
}

Result<OutboxStats> Outbox::stats(WallTime now, std::int64_t failed_limit) {
  auto tx = sqlite::Transaction::begin(*conn_, sqlite::Transaction::Kind::read);
  if (!tx.ok()) return tx.status();
  OutboxStats out;
  auto counts = conn_->prepare(
      "SELECT state, COUNT(*), MIN(pending_since_ms), "
      "SUM(CASE WHEN lease_owner IS NOT NULL AND lease_until_ms > ?1 THEN 1 ELSE 0 END) "
      "FROM sidecar_outbox GROUP BY state");
  if (!counts.ok()) return counts.status();
  counts->bind(1, to_unix_ms(now));
  for (;;) {
    auto has = counts->step();
    if (!has.ok()) return has.status();
    if (!*has) break;
    const auto state = outbox_state_from(counts->column_text(0));
    const std::int64_t n = counts->column_int(1);
    if (state == OutboxState::pending) {
      out.pending = n;
      out.leased = counts->column_int(3);
      if (!counts->column_is_null(2)) out.oldest_pending_since = from_unix_ms(counts->column_int(2));
    } else if (state == OutboxState::synced) {
      out.synced = n;
    } else if (state == OutboxState::failed) {
      out.failed = n;
    }
  }
  auto failed = conn_->prepare("SELECT " + column_list() +
                               " FROM sidecar_outbox WHERE state = 'failed' "
                               "ORDER BY changed_ms, agent_id LIMIT ?1");
  if (!failed.ok()) return failed.status();
  failed->bind(1, failed_limit);
  for (;;) {
    auto has = failed->step();
    if (!has.ok()) return has.status();
    if (!*has) break;
    out.failed_rows.push_back(read_row(*failed, 0));
  }
  return out;
}

Result<std::vector<AgentSyncView>> Outbox::agents_page(std::string_view after,
                                                       std::int64_t limit) {
  auto tx = sqlite::Transaction::begin(*conn_, sqlite::Transaction::Kind::read);
  if (!tx.ok()) return tx.status();
  // agent_metrics.agent_id is the upstream primary key: the walk follows its index.
  auto stmt = conn_->prepare(
      "SELECT m.agent_id, m.current_tier, typeof(m.agent_id), o.agent_id IS NOT NULL, " +
      column_list("o.") +
      " FROM agent_metrics AS m LEFT JOIN sidecar_outbox AS o ON o.agent_id = m.agent_id "
      "WHERE m.agent_id > ?1 ORDER BY m.agent_id LIMIT ?2");
  if (!stmt.ok()) return stmt.status();
  stmt->bind(1, after).bind(2, limit);
  std::vector<AgentSyncView> out;
  for (;;) {
    auto has = stmt->step();
    if (!has.ok()) return has.status();
    if (!*has) break;
    AgentSyncView v;
    v.agent_id = std::string(stmt->column_text(0));
    if (stmt->column_text(2) != "text") {
      v.problem = "agent_id is not text";
    } else if (!stmt->column_is_integer(1) || stmt->column_int(1) < 0 ||
               stmt->column_int(1) > kMaxTier) {
      v.problem = "agent '" + v.agent_id + "': current_tier must be an integer 0.." +
                  std::to_string(kMaxTier);
    } else {
      v.tier = stmt->column_int(1);
    }
    if (stmt->column_int(3) != 0) v.row = read_row(*stmt, 4);
    out.push_back(std::move(v));
  }
  return out;
}

Result<std::vector<SyncHistoryEntry>> Outbox::history(std::string_view agent_id,
                                                      std::int64_t limit) {
  auto stmt = conn_->prepare(
      "SELECT id, at, agent_id, role, tier, generation, outcome, policies, error_code, message, "
      "attempt FROM sidecar_sync_history WHERE agent_id = ?1 ORDER BY id DESC LIMIT ?2");
  if (!stmt.ok()) return stmt.status();
  stmt->bind(1, agent_id).bind(2, limit);
  std::vector<SyncHistoryEntry> out;
  for (;;) {
    auto has = stmt->step();
    if (!has.ok()) return has.status();
    if (!*has) break;
    SyncHistoryEntry e;
    e.id = stmt->column_int(0);
    e.at = std::string(stmt->column_text(1));
    e.agent_id = std::string(stmt->column_text(2));
    e.role = stmt->column_optional_text(3);
    e.tier = stmt->column_int(4);
    e.generation = stmt->column_int(5);
    e.outcome = std::string(stmt->column_text(6));
    if (auto p = stmt->column_optional_text(7)) e.policies = policies_from_json(*p);
    e.error_code = stmt->column_optional_text(8);
    e.message = stmt->column_optional_text(9);
    e.attempt = stmt->column_int(10);
    out.push_back(std::move(e));
  }
  return out;
}

Result<std::vector<DriftRecord>> Outbox::drift(std::string_view agent_id, std::int64_t limit) {
  auto stmt = conn_->prepare(
      "SELECT found_at, agent_id, role, kind, expected, found, mode, action FROM sidecar_drift "
      "WHERE ?1 = '' OR agent_id = ?1 ORDER BY id DESC LIMIT ?2");
  if (!stmt.ok()) return stmt.status();
  stmt->bind(1, agent_id).bind(2, limit);
  std::vector<DriftRecord> out;
  for (;;) {
    auto has = stmt->step();
    if (!has.ok()) return has.status();
    if (!*has) break;
    DriftRecord d;
    d.found_at = std::string(stmt->column_text(0));
    d.agent_id = std::string(stmt->column_text(1));
    d.role = std::string(stmt->column_text(2));
    d.kind = std::string(stmt->column_text(3));
    d.expected = policies_from_json(stmt->column_text(4));
    if (auto f = stmt->column_optional_text(5)) d.found = policies_from_json(*f);
    d.mode = std::string(stmt->column_text(6));
    d.action = std::string(stmt->column_text(7));
    out.push_back(std::move(d));
  }
  return out;
}

Result<std::int64_t> Outbox::prune_history(std::int64_t keep) {
  auto stmt = conn_->prepare(
      "DELETE FROM sidecar_sync_history WHERE id <= "
      "(SELECT COALESCE(MAX(id), 0) FROM sidecar_sync_history) - ?1");
  if (!stmt.ok()) return stmt.status();
  stmt->bind(1, keep);
  if (Status s = stmt->run(); !s.ok()) return s;
  return conn_->changes();
}

Result<bool> Outbox::frozen() {
  auto state = read_freeze_state(*conn_);
  if (!state.ok()) return state.status();
  return state->frozen;
}

Result<std::map<std::string, Outbox::Collision>> Outbox::role_collisions() {
  auto stmt = conn_->prepare(
      "SELECT lower(agent_id), agent_id, current_tier FROM agent_metrics "
      "WHERE typeof(agent_id) = 'text' AND typeof(current_tier) = 'integer' AND lower(agent_id) "
      "IN (SELECT lower(agent_id) FROM agent_metrics GROUP BY lower(agent_id) HAVING COUNT(*) > 1) "
      "ORDER BY 1, 2");
  if (!stmt.ok()) return stmt.status();
  std::map<std::string, Collision> out;
  for (;;) {
    auto row = stmt->step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    auto [it, fresh] = out.try_emplace(std::string(stmt->column_text(0)));
    const std::int64_t tier = stmt->column_int(2);
    it->second.lowest_tier = fresh ? tier : std::min(it->second.lowest_tier, tier);
    it->second.agents.emplace_back(stmt->column_text(1));
  }
  return out;
}

}  // namespace ps::engine
