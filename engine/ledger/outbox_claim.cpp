// The outbox's write paths for the sync worker and the reconciler: claiming, finishing
// (fenced by revision), repairs and requeues. See engine/outbox.h for the contracts.
#include <algorithm>

#include "engine/ledger/outbox.h"
#include "engine/ledger/outbox_sql.h"
#include "engine/ledger/revocation.h"

namespace ps::engine {

using namespace outbox_sql;

namespace {

std::string_view outcome_name(PushOutcome::Kind kind) {
  switch (kind) {
    case PushOutcome::Kind::synced: return "synced";
    case PushOutcome::Kind::retry: return "retry";
    case PushOutcome::Kind::parked: return "parked";
    case PushOutcome::Kind::released: return "released";
  }
  return "released";
}

struct Current {
  std::int64_t revision = 0;
  std::int64_t generation = 0;
  std::int64_t tier = 0;
  std::int64_t attempts = 0;
  std::optional<std::string> role;
};

Result<std::optional<Current>> read_current(LedgerTx& conn, std::string_view agent) {
  auto stmt = conn.prepare(
      "SELECT revision, generation, tier, attempts, role FROM sidecar_outbox WHERE agent_id = ?1");
  if (!stmt.ok()) return stmt.status();
  stmt->bind(1, agent);
  auto has = stmt->step();
  if (!has.ok()) return has.status();
  if (!*has) return std::optional<Current>{};
  return std::optional<Current>{Current{stmt->column_int(0), stmt->column_int(1),
                                        stmt->column_int(2), stmt->column_int(3),
                                        stmt->column_optional_text(4)}};
}

Status insert_history(LedgerTx& conn, const std::string& at, const Current& row,
                      const PushOutcome& o, std::string_view outcome, std::int64_t attempt) {
  auto stmt = conn.prepare(
      "INSERT INTO sidecar_sync_history (at, agent_id, role, tier, generation, outcome, policies, "
      "error_code, message, attempt) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
  if (!stmt.ok()) return stmt.status();
  stmt->bind(1, std::string_view(at)).bind(2, std::string_view(o.agent_id));
  stmt->bind(3, row.role);
  stmt->bind(4, row.tier).bind(5, o.generation).bind(6, outcome);
  if (o.kind == PushOutcome::Kind::synced) {
    stmt->bind(7, std::string_view(policies_json(o.policies_on_role)));
  } else {
    stmt->bind(7, SqlValue{});
  }
  stmt->bind(8, o.error_code);
  stmt->bind(9, o.message);
  stmt->bind(10, attempt);
  return stmt->run();
}

// The row changed under the push. If the push wrote, whatever it wrote may be stale: the row
// goes back to pending under a new revision, which also keeps any other in-flight push of it
// from marking it synced. Either way our lease (if still ours) is dropped.
Status supersede(LedgerTx& conn, const PushOutcome& o, std::string_view owner,
                 std::int64_t now_ms, const std::string& now_iso) {
  if (o.wrote) {
    auto stmt = conn.prepare(
        "UPDATE sidecar_outbox SET state = 'pending', revision = revision + 1, "
        "next_attempt_ms = MIN(next_attempt_ms, ?2), "
        "pending_since_ms = COALESCE(pending_since_ms, ?2), "
        "lease_until_ms = CASE WHEN lease_owner = ?3 THEN NULL ELSE lease_until_ms END, "
        "lease_owner = CASE WHEN lease_owner = ?3 THEN NULL ELSE lease_owner END, "
        "updated_at = ?4 WHERE agent_id = ?1");
    if (!stmt.ok()) return stmt.status();
    stmt->bind(1, std::string_view(o.agent_id)).bind(2, now_ms).bind(3, owner)
        .bind(4, std::string_view(now_iso));
    return stmt->run();
  }
  auto stmt = conn.prepare(
      "UPDATE sidecar_outbox SET lease_owner = NULL, lease_until_ms = NULL "
      "WHERE agent_id = ?1 AND lease_owner = ?2");
  if (!stmt.ok()) return stmt.status();
  stmt->bind(1, std::string_view(o.agent_id)).bind(2, owner);
  return stmt->run();
}

Status apply(LedgerTx& conn, const PushOutcome& o, const std::string& now_iso) {
  std::string sql;
  switch (o.kind) {
    case PushOutcome::Kind::synced:
      sql = "UPDATE sidecar_outbox SET state = 'synced', synced_generation = generation, "
            "attempts = 0, error_code = NULL, last_error = NULL, pending_since_ms = NULL, "
            "lease_owner = NULL, lease_until_ms = NULL, synced_at = ?8, updated_at = ?3 "
            "WHERE agent_id = ?1 AND revision = ?2";
      break;
    case PushOutcome::Kind::retry:
      sql = "UPDATE sidecar_outbox SET attempts = attempts + ?4, next_attempt_ms = ?5, "
            "error_code = ?6, last_error = ?7, lease_owner = NULL, lease_until_ms = NULL, "
            "updated_at = ?3 WHERE agent_id = ?1 AND revision = ?2";
      break;
    case PushOutcome::Kind::parked:
      sql = "UPDATE sidecar_outbox SET state = 'failed', attempts = attempts + ?4, "
            "error_code = ?6, last_error = ?7, lease_owner = NULL, lease_until_ms = NULL, "
            "updated_at = ?3 WHERE agent_id = ?1 AND revision = ?2";
      break;
    case PushOutcome::Kind::released:
      sql = "UPDATE sidecar_outbox SET lease_owner = NULL, lease_until_ms = NULL "
            "WHERE agent_id = ?1 AND revision = ?2";
      break;
  }
  auto stmt = conn.prepare(sql);
  if (!stmt.ok()) return stmt.status();
  stmt->bind(1, std::string_view(o.agent_id)).bind(2, o.revision);
  if (o.kind != PushOutcome::Kind::released) stmt->bind(3, std::string_view(now_iso));
  const std::string verified_iso =
      o.verified_at ? format_isoformat_utc(*o.verified_at) : now_iso;
  if (o.kind == PushOutcome::Kind::synced) stmt->bind(8, std::string_view(verified_iso));
  if (o.kind == PushOutcome::Kind::retry || o.kind == PushOutcome::Kind::parked) {
    stmt->bind(4, std::int64_t{o.count_attempt ? 1 : 0});
    if (o.kind == PushOutcome::Kind::retry) stmt->bind(5, to_unix_ms(o.next_attempt_at));
    stmt->bind(6, o.error_code);
    stmt->bind(7, o.message);
  }
  return stmt->run();
}

}  // namespace

std::uint32_t agent_partition(std::string_view agent_id, std::uint32_t partitions) {
  if (partitions <= 1) return 0;
  std::uint32_t h = 2166136261u;
  for (unsigned char c : agent_id) {
    if (c >= 'A' && c <= 'Z') c = static_cast<unsigned char>(c - 'A' + 'a');
    h = (h ^ c) * 16777619u;
  }
  return h % partitions;
}

bool ClaimRequest::takes(std::string_view agent_id) const {
  return partitions <= 1 || agent_partition(agent_id, partitions) == partition;
}

bool ClaimRequest::lease_free(const std::optional<std::string>& lease_owner,
                              std::optional<std::int64_t> until_ms, std::int64_t now_ms) const {
  return !lease_owner || !until_ms || *until_ms <= now_ms || *lease_owner == owner ||
         (owner_is_dead && owner_is_dead(*lease_owner));
}

Status ClaimRequest::choose(sqlite::Statement& scan,
                            const std::function<void(const sqlite::Statement&)>& take) const {
  const std::int64_t now_ms = to_unix_ms(now);
  std::int64_t chosen = 0;
  while (chosen < limit) {
    auto has = scan.step();
    if (!has.ok()) return has.status();
    if (!*has) break;
    // The partition first: it is a hash, lease_free may ask whether a process is alive.
    if (takes(scan.column_text(3)) &&
        lease_free(scan.column_optional_text(1), scan.column_optional_int(2), now_ms)) {
      take(scan);
      ++chosen;
    }
  }
  return Status::success();
}

// The agents `request` may claim now, in claim order. Collected before any update, so the
// scan's cursor is never open while its table changes.
Result<std::vector<Outbox::Claimable>> Outbox::claimable(const ClaimRequest& request) {
  auto scan = conn_->prepare(
      "SELECT agent_id, lease_owner, lease_until_ms, agent_id FROM sidecar_outbox "
      "WHERE state = 'pending' AND next_attempt_ms <= ?1 "
      // Exactly the index's order (ties: insertion order), so no sort of every pending row
      // per claim: the scan stops after `limit` free rows.
      "ORDER BY priority, changed_ms");
  if (!scan.ok()) return scan.status();
  const std::int64_t now_ms = to_unix_ms(request.now);
  scan->bind(1, now_ms);
  std::vector<Claimable> chosen;
  Status s = request.choose(*scan, [&](const sqlite::Statement& row) {
    const auto owner = row.column_optional_text(1);
    const auto until = row.column_optional_int(2);
    chosen.push_back({std::string(row.column_text(0)),
                      owner && *owner == request.owner && until && *until > now_ms});
  });
  if (!s.ok()) return s;
  return chosen;
}

Result<std::vector<OutboxRow>> Outbox::read_handed(const std::vector<Claimable>& chosen,
                                                   const ClaimRequest& request) {
  auto tx = sqlite::Transaction::begin(*conn_, sqlite::Transaction::Kind::read);
  if (!tx.ok()) return tx.status();
  auto read = conn_->prepare("SELECT " + column_list() +
                             " FROM sidecar_outbox WHERE agent_id = ?1 AND lease_owner = ?2 "
                             "AND state = 'pending'");
  if (!read.ok()) return read.status();
  std::vector<OutboxRow> rows;
  for (const Claimable& c : chosen) {
    read->reset();
    read->bind(1, std::string_view(c.agent_id)).bind(2, std::string_view(request.owner));
    auto has = read->step();
    if (!has.ok()) return has.status();
    if (*has) rows.push_back(read_row(*read, 0));
  }
  if (Status s = tx->commit(); !s.ok()) return s;
  return rows;
}

// A read first: a worker woken for another partition's rows (or finding its rows gone) takes
// no write lock, nor does one whose rows were all handed to it by their tier change. The choice
// is made again inside the write transaction.
Result<std::vector<OutboxRow>> Outbox::claim_due(const ClaimRequest& request) {
  const std::int64_t now_ms = to_unix_ms(request.now);
  auto any = claimable(request);
  if (!any.ok()) return any.status();
  if (any->empty()) return std::vector<OutboxRow>{};
  if (std::all_of(any->begin(), any->end(), [](const Claimable& c) { return c.handed; })) {
    return read_handed(*any, request);
  }
  auto tx = sqlite::Transaction::begin(*conn_, sqlite::Transaction::Kind::write);
  if (!tx.ok()) return tx.status();
  auto chosen = claimable(request);
  if (!chosen.ok()) return chosen.status();

  std::vector<OutboxRow> claimed;
  auto update = conn_->prepare("UPDATE sidecar_outbox SET lease_owner = ?2, lease_until_ms = ?3, "
                               "revision = revision + 1 WHERE agent_id = ?1 RETURNING " +
                               column_list());
  if (!update.ok()) return update.status();
  const std::int64_t until_ms = now_ms + request.lease.count();
  for (const Claimable& c : *chosen) {
    update->reset();
    update->bind(1, std::string_view(c.agent_id))
        .bind(2, std::string_view(request.owner))
        .bind(3, until_ms);
    auto has = update->step();
    if (!has.ok()) return has.status();
    if (*has) claimed.push_back(read_row(*update, 0));
    if (Status s = update->run(); !s.ok()) return s;
  }
  if (Status s = tx->commit(); !s.ok()) return s;
  return claimed;
}

Result<bool> Outbox::renew_lease(std::string_view agent_id, std::int64_t revision,
                                 std::string_view owner, WallTime until) {
  auto tx = sqlite::Transaction::begin(*conn_, sqlite::Transaction::Kind::write);
  if (!tx.ok()) return tx.status();
  auto stmt = conn_->prepare(
      "UPDATE sidecar_outbox SET lease_until_ms = ?4 WHERE agent_id = ?1 AND revision = ?2 "
      "AND lease_owner = ?3 AND state = 'pending'");
  if (!stmt.ok()) return stmt.status();
  stmt->bind(1, agent_id).bind(2, revision).bind(3, owner).bind(4, to_unix_ms(until));
  if (Status s = stmt->run(); !s.ok()) return s;
  const bool renewed = conn_->changes() == 1;
  if (Status s = tx->commit(); !s.ok()) return s;
  return renewed;
}

Result<std::vector<FinishResult>> finish_pushes(LedgerTx& tx,
                                                const std::vector<PushOutcome>& outcomes,
                                                std::string_view owner, WallTime now) {
  const std::int64_t now_ms = to_unix_ms(now);
  const std::string now_iso = format_isoformat_utc(now);
  std::vector<FinishResult> results;
  results.reserve(outcomes.size());
  for (const PushOutcome& o : outcomes) {
    auto current = read_current(tx, o.agent_id);
    if (!current.ok()) return current.status();
    if (!*current) {
      results.push_back({FinishResult::Kind::gone, 0});
      continue;
    }
    const Current& row = **current;
    if (row.revision != o.revision) {
      if (Status s = supersede(tx, o, owner, now_ms, now_iso); !s.ok()) return s;
      if (o.wrote) {
        if (Status s = insert_history(tx, now_iso, row, o, "superseded", row.attempts);
            !s.ok()) {
          return s;
        }
      }
      results.push_back({FinishResult::Kind::superseded, row.generation});
      continue;
    }
    if (Status s = apply(tx, o, now_iso); !s.ok()) return s;
    if (o.kind != PushOutcome::Kind::released) {
      const std::int64_t attempt =
          o.kind == PushOutcome::Kind::synced ? row.attempts + 1
                                              : row.attempts + (o.count_attempt ? 1 : 0);
      if (Status s = insert_history(tx, now_iso, row, o, outcome_name(o.kind), attempt);
          !s.ok()) {
        return s;
      }
    }
    results.push_back({FinishResult::Kind::applied, row.generation});
  }
  return results;
}

Result<std::vector<FinishResult>> Outbox::finish(const std::vector<PushOutcome>& outcomes,
                                                 std::string_view owner, WallTime now) {
  if (outcomes.empty()) return std::vector<FinishResult>{};  // nothing claimed: no write lock
  auto tx = sqlite::Transaction::begin(*conn_, sqlite::Transaction::Kind::write);
  if (!tx.ok()) return tx.status();
  LedgerTx ltx(*conn_);
  auto results = finish_pushes(ltx, outcomes, owner, now);
  if (!results.ok()) return results.status();
  if (Status s = tx->commit(); !s.ok()) return s;
  return results;
}

Result<ReconcileWriteResult> Outbox::write_reconcile(const ReconcileWrites& writes) {
  auto tx = sqlite::Transaction::begin(*conn_, sqlite::Transaction::Kind::write);
  if (!tx.ok()) return tx.status();
  ReconcileWriteResult out;

  auto drift = conn_->prepare(
      "INSERT INTO sidecar_drift (found_at, agent_id, role, kind, expected, found, mode, action) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
  if (!drift.ok()) return drift.status();
  for (const DriftRecord& d : writes.drift) {
    drift->reset();
    drift->bind(1, std::string_view(d.found_at))
        .bind(2, std::string_view(d.agent_id))
        .bind(3, std::string_view(d.role))
        .bind(4, std::string_view(d.kind))
        .bind(5, std::string_view(policies_json(d.expected)));
    if (d.found) {
      drift->bind(6, std::string_view(policies_json(*d.found)));
    } else {
      drift->bind(6, SqlValue{});
    }
    drift->bind(7, std::string_view(d.mode)).bind(8, std::string_view(d.action));
    if (Status s = drift->run(); !s.ok()) return s;
  }

  auto tier = conn_->prepare("SELECT current_tier FROM agent_metrics WHERE agent_id = ?1");
  if (!tier.ok()) return tier.status();
  LedgerTx ltx(*conn_);
  for (const RepairRequest& r : writes.repairs) {
    // Only if nothing changed since the reconciler read the agent: a repair computed from an
    // old tier must never overtake a newer tier change.
    tier->reset();
    tier->bind(1, std::string_view(r.change.agent_id));
    auto has = tier->step();
    if (!has.ok()) return has.status();
    if (!*has || !tier->column_is_integer(0) || tier->column_int(0) != r.ledger_tier) continue;
    if (r.while_frozen) {
      auto frozen = read_freeze_state(*conn_);
      if (!frozen.ok()) return frozen.status();
      if (!frozen->frozen) continue;
    }
    auto current = read_current(ltx, r.change.agent_id);
    if (!current.ok()) return current.status();
    const std::int64_t generation = *current ? (*current)->generation : 0;
    if (generation != r.expected_generation) continue;
    if (Status s = write_desired_state(ltx, r.change); !s.ok()) return s;
    ++out.repairs_written;
  }

  auto requeue = conn_->prepare(
      "UPDATE sidecar_outbox SET state = 'pending', attempts = 0, next_attempt_ms = ?3, "
      "revision = revision + 1, pending_since_ms = COALESCE(pending_since_ms, changed_ms), "
      "updated_at = ?4 WHERE agent_id = ?1 AND revision = ?2 AND state = 'failed' "
      "AND role IS NOT NULL");
  if (!requeue.ok()) return requeue.status();
  for (const RequeueRequest& r : writes.requeues) {
    requeue->reset();
    requeue->bind(1, std::string_view(r.agent_id))
        .bind(2, r.revision)
        .bind(3, to_unix_ms(writes.now))
        .bind(4, std::string_view(format_isoformat_utc(writes.now)));
    if (Status s = requeue->run(); !s.ok()) return s;
    out.requeued += conn_->changes();
  }
  if (Status s = tx->commit(); !s.ok()) return s;
  return out;
}

Result<std::int64_t> Outbox::requeue_all_failed(WallTime now) {
  auto stmt = conn_->prepare(
      "UPDATE sidecar_outbox SET state = 'pending', attempts = 0, next_attempt_ms = ?1, "
      "revision = revision + 1, pending_since_ms = COALESCE(pending_since_ms, changed_ms), "
      "updated_at = ?2 WHERE state = 'failed' AND role IS NOT NULL "
      "AND COALESCE(error_code, '') <> 'role_collision'");
  if (!stmt.ok()) return stmt.status();
  stmt->bind(1, to_unix_ms(now)).bind(2, std::string_view(format_isoformat_utc(now)));
  if (Status s = stmt->run(); !s.ok()) return s;
  return conn_->changes();
}

}  // namespace ps::engine
