#include "engine/ledger/revocation_steps.h"

namespace ps::engine {
namespace {

constexpr std::string_view kStepColumns =
    "id, agent_id, role, demotion_id, step, tier, cutoff_ms, state, revision, attempts, "
    "next_attempt_ms, error_code, last_error, detail, created_at, done_at";

std::optional<RevocationStepKind> step_kind_from(std::string_view text) {
  if (text == "destroy_secret_ids") return RevocationStepKind::destroy_secret_ids;
  if (text == "revoke_tokens") return RevocationStepKind::revoke_tokens;
  return std::nullopt;
}

StepState step_state_from(std::string_view text) {
  if (text == "done") return StepState::done;
  if (text == "failed") return StepState::failed;
  return StepState::pending;
}

RevocationStep read_step(const sqlite::Statement& s) {
  RevocationStep r;
  r.id = s.column_int(0);
  r.agent_id = std::string(s.column_text(1));
  r.role = s.column_optional_text(2);
  r.demotion_id = s.column_int(3);
  r.kind = step_kind_from(s.column_text(4)).value_or(RevocationStepKind::destroy_secret_ids);
  r.tier = s.column_int(5);
  r.cutoff = from_unix_ms(s.column_int(6));
  r.state = step_state_from(s.column_text(7));
  r.revision = s.column_int(8);
  r.attempts = s.column_int(9);
  r.next_attempt_at = from_unix_ms(s.column_int(10));
  r.error_code = s.column_optional_text(11);
  r.last_error = s.column_optional_text(12);
  r.detail = s.column_optional_text(13);
  r.created_at = std::string(s.column_text(14));
  r.done_at = s.column_optional_text(15);
  return r;
}

Result<std::vector<RevocationStep>> read_steps(sqlite::Statement& stmt) {
  std::vector<RevocationStep> out;
  for (;;) {
    auto row = stmt.step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    out.push_back(read_step(stmt));
  }
  return out;
}

}  // namespace

std::string_view to_string(RevocationStepKind kind) {
  return kind == RevocationStepKind::revoke_tokens ? "revoke_tokens" : "destroy_secret_ids";
}

std::string_view to_string(StepState state) {
  switch (state) {
    case StepState::pending: return "pending";
    case StepState::done: return "done";
    case StepState::failed: return "failed";
  }
  return "pending";
}

Status write_revocation_step(LedgerTx& tx, const RevocationStepRequest& step, WallTime now) {
  const std::string now_iso = format_isoformat_utc(now);
  // An id that names no role cannot be worked on: parked at once, with the reason.
  const bool parkable = !step.role;
  auto stmt = tx.prepare(
      "INSERT INTO sidecar_revocation_steps (agent_id, role, demotion_id, step, tier, cutoff_ms, "
      "state, next_attempt_ms, error_code, last_error, created_at, updated_at) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11)");
  if (!stmt.ok()) return stmt.status();
  stmt->bind(1, std::string_view(step.agent_id))
      .bind(2, step.role)
      .bind(3, step.demotion_id)
      .bind(4, to_string(step.kind))
      .bind(5, step.tier)
      .bind(6, to_unix_ms(step.cutoff))
      .bind(7, parkable ? std::string_view("failed") : std::string_view("pending"))
      .bind(8, to_unix_ms(now))
      .bind(9, parkable ? std::optional<std::string>("invalid_role") : std::nullopt)
      .bind(10, parkable ? std::optional<std::string>("the agent id names no Vault role")
                         : std::nullopt)
      .bind(11, std::string_view(now_iso));
  return stmt->run();
}

Result<std::unique_ptr<RevocationSteps>> RevocationSteps::open(const LedgerOptions& options) {
  auto conn = sqlite::Connection::open_existing(options.path, options.busy_timeout_ms);
  if (!conn.ok()) return conn.status();
  auto stmt = (*conn)->prepare(
      "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sidecar_revocation_steps'");
  if (!stmt.ok()) return stmt.status();
  auto row = stmt->step();
  if (!row.ok()) return row.status();
  if (!*row) {
    return Status(Code::failed_precondition,
                  "the ledger has no revocation steps yet (run `policy-sidecar migrate`): " +
                      options.path);
  }
  if (options.read_only) {
    if (Status s = (*conn)->exec("PRAGMA query_only = ON"); !s.ok()) return s;
  }
  return std::unique_ptr<RevocationSteps>(new RevocationSteps(std::move(conn).value()));
}

// The steps `request` may claim now, in id order (collected before any update).
Result<std::vector<std::int64_t>> RevocationSteps::claimable(const ClaimRequest& request) {
  auto scan = conn_->prepare(
      "SELECT id, lease_owner, lease_until_ms, agent_id FROM sidecar_revocation_steps "
      "WHERE state = 'pending' AND next_attempt_ms <= ?1 ORDER BY id");
  if (!scan.ok()) return scan.status();
  scan->bind(1, to_unix_ms(request.now));
  std::vector<std::int64_t> chosen;
  Status s = request.choose(
      *scan, [&](const sqlite::Statement& row) { chosen.push_back(row.column_int(0)); });
  if (!s.ok()) return s;
  return chosen;
}

// Like Outbox::claim_due: a read first, the write lock only when a step is claimable.
Result<std::vector<RevocationStep>> RevocationSteps::claim_due(const ClaimRequest& request) {
  const std::int64_t now_ms = to_unix_ms(request.now);
  auto any = claimable(request);
  if (!any.ok()) return any.status();
  if (any->empty()) return std::vector<RevocationStep>{};
  auto tx = sqlite::Transaction::begin(*conn_, sqlite::Transaction::Kind::write);
  if (!tx.ok()) return tx.status();
  auto chosen = claimable(request);
  if (!chosen.ok()) return chosen.status();
  auto update = conn_->prepare(
      "UPDATE sidecar_revocation_steps SET lease_owner = ?2, lease_until_ms = ?3, "
      "revision = revision + 1 WHERE id = ?1 RETURNING " + std::string(kStepColumns));
  if (!update.ok()) return update.status();
  std::vector<RevocationStep> claimed;
  for (std::int64_t id : *chosen) {
    update->reset();
    update->bind(1, id)
        .bind(2, std::string_view(request.owner))
        .bind(3, now_ms + request.lease.count());
    auto has = update->step();
    if (!has.ok()) return has.status();
    if (*has) claimed.push_back(read_step(*update));
    if (Status s = update->run(); !s.ok()) return s;
  }
  if (Status s = tx->commit(); !s.ok()) return s;
  return claimed;
}

Result<bool> RevocationSteps::renew_lease(std::int64_t id, std::int64_t revision,
                                          std::string_view owner, WallTime until) {
  auto tx = sqlite::Transaction::begin(*conn_, sqlite::Transaction::Kind::write);
  if (!tx.ok()) return tx.status();
  auto stmt = conn_->prepare(
      "UPDATE sidecar_revocation_steps SET lease_until_ms = ?4 WHERE id = ?1 AND revision = ?2 "
      "AND lease_owner = ?3 AND state = 'pending'");
  if (!stmt.ok()) return stmt.status();
  stmt->bind(1, id).bind(2, revision).bind(3, owner).bind(4, to_unix_ms(until));
  if (Status s = stmt->run(); !s.ok()) return s;
  const bool renewed = conn_->changes() == 1;
  if (Status s = tx->commit(); !s.ok()) return s;
  return renewed;
}

Result<std::vector<bool>> RevocationSteps::finish(const std::vector<StepOutcome>& outcomes,
                                                  WallTime now) {
  if (outcomes.empty()) return std::vector<bool>{};  // nothing claimed: no write lock
  const std::string now_iso = format_isoformat_utc(now);
  auto tx = sqlite::Transaction::begin(*conn_, sqlite::Transaction::Kind::write);
  if (!tx.ok()) return tx.status();
  std::vector<bool> applied;
  for (const StepOutcome& o : outcomes) {
    const char* sql = nullptr;
    switch (o.kind) {
      case StepOutcome::Kind::done:
        sql = "UPDATE sidecar_revocation_steps SET state = 'done', attempts = attempts + 1, "
              "detail = ?5, error_code = NULL, last_error = NULL, done_at = ?3, updated_at = ?3, "
              "lease_owner = NULL, lease_until_ms = NULL WHERE id = ?1 AND revision = ?2";
        break;
      case StepOutcome::Kind::retry:
        sql = "UPDATE sidecar_revocation_steps SET attempts = attempts + ?4, next_attempt_ms = "
              "?6, error_code = ?7, last_error = ?8, detail = COALESCE(?5, detail), "
              "updated_at = ?3, lease_owner = NULL, lease_until_ms = NULL "
              "WHERE id = ?1 AND revision = ?2";
        break;
      case StepOutcome::Kind::parked:
        sql = "UPDATE sidecar_revocation_steps SET state = 'failed', attempts = attempts + ?4, "
              "error_code = ?7, last_error = ?8, detail = COALESCE(?5, detail), updated_at = ?3, "
              "lease_owner = NULL, lease_until_ms = NULL WHERE id = ?1 AND revision = ?2";
        break;
      case StepOutcome::Kind::released:
        sql = "UPDATE sidecar_revocation_steps SET lease_owner = NULL, lease_until_ms = NULL "
              "WHERE id = ?1 AND revision = ?2";
        break;
    }
    auto stmt = conn_->prepare(sql);
    if (!stmt.ok()) return stmt.status();
    stmt->bind(1, o.id).bind(2, o.revision);
    if (o.kind != StepOutcome::Kind::released) {
      stmt->bind(3, std::string_view(now_iso)).bind(5, o.detail);
    }
    if (o.kind == StepOutcome::Kind::retry || o.kind == StepOutcome::Kind::parked) {
      stmt->bind(4, std::int64_t{o.count_attempt ? 1 : 0})
          .bind(6, to_unix_ms(o.next_attempt_at))
          .bind(7, o.error_code)
          .bind(8, o.message);
    }
    if (Status s = stmt->run(); !s.ok()) return s;
    applied.push_back(conn_->changes() == 1);
  }
  if (Status s = tx->commit(); !s.ok()) return s;
  return applied;
}

Result<StepStats> RevocationSteps::stats(std::int64_t failed_limit) {
  auto tx = sqlite::Transaction::begin(*conn_, sqlite::Transaction::Kind::read);
  if (!tx.ok()) return tx.status();
  StepStats out;
  auto counts =
      conn_->prepare("SELECT state, COUNT(*) FROM sidecar_revocation_steps GROUP BY state");
  if (!counts.ok()) return counts.status();
  for (;;) {
    auto has = counts->step();
    if (!has.ok()) return has.status();
    if (!*has) break;
    const StepState state = step_state_from(counts->column_text(0));
    const std::int64_t n = counts->column_int(1);
    (state == StepState::pending ? out.pending : state == StepState::done ? out.done : out.failed) = n;
  }
  auto failed = conn_->prepare("SELECT " + std::string(kStepColumns) +
                               " FROM sidecar_revocation_steps WHERE state = 'failed' "
                               "ORDER BY id LIMIT ?1");
  if (!failed.ok()) return failed.status();
  failed->bind(1, failed_limit);
  auto rows = read_steps(*failed);
  if (!rows.ok()) return rows.status();
  out.failed_rows = std::move(rows).value();
  return out;
}

Result<std::vector<RevocationStep>> RevocationSteps::for_agent(std::string_view agent_id,
                                                               std::int64_t limit) {
  auto stmt = conn_->prepare("SELECT " + std::string(kStepColumns) +
                             " FROM sidecar_revocation_steps WHERE agent_id = ?1 "
                             "ORDER BY id DESC LIMIT ?2");
  if (!stmt.ok()) return stmt.status();
  stmt->bind(1, agent_id).bind(2, limit);
  return read_steps(*stmt);
}

Result<std::int64_t> RevocationSteps::requeue_failed(WallTime now) {
  auto stmt = conn_->prepare(
      "UPDATE sidecar_revocation_steps SET state = 'pending', attempts = 0, next_attempt_ms = "
      "?1, revision = revision + 1, updated_at = ?2 WHERE state = 'failed' AND role IS NOT NULL");
  if (!stmt.ok()) return stmt.status();
  stmt->bind(1, to_unix_ms(now)).bind(2, std::string_view(format_isoformat_utc(now)));
  if (Status s = stmt->run(); !s.ok()) return s;
  return conn_->changes();
}

Result<std::optional<WallTime>> RevocationSteps::next_due() {
  auto stmt = conn_->prepare(
      "SELECT MIN(next_attempt_ms) FROM sidecar_revocation_steps WHERE state = 'pending'");
  if (!stmt.ok()) return stmt.status();
  auto row = stmt->step();
  if (!row.ok()) return row.status();
  if (stmt->column_is_null(0)) return std::optional<WallTime>{};
  return std::optional<WallTime>(from_unix_ms(stmt->column_int(0)));
}

}  // namespace ps::engine
