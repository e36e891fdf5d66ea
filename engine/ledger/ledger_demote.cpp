// The demotion transaction (architecture "Data flow" step 2 for a tier going down).
#include "engine/ledger/ledger.h"

namespace ps::engine {

std::string_view to_string(DemotionSource source) {
  switch (source) {
    case DemotionSource::manual: return "manual";
    case DemotionSource::violation: return "violation";
    case DemotionSource::freeze: return "freeze";
  }
  return "manual";
}

// Same shape as promote(): the write lock first, the tier read inside the transaction, a
// conditional UPDATE that must change exactly one row, the record, the hook (the outbox row,
// so Vault follows), COMMIT. There are no rules to re-evaluate: a demotion is a decision.
Result<DemotionRecord> Ledger::demote(const DemotionRequest& request, const TierChangeHook& hook) {
  auto tx = sqlite::Transaction::begin(*conn_, sqlite::Transaction::Kind::write);
  if (!tx.ok()) return tx.status();
  auto record = demote_locked(request, hook);
  if (!record.ok()) return record;
  if (Status s = tx->commit(); !s.ok()) return s;
  return record;
}

namespace {

Status demotion_refused(const DemotionRequest& request, std::int64_t from) {
  if (request.expected_from_tier && from != *request.expected_from_tier) {
    return Status(Code::aborted, "Agent " + request.agent_id + " is no longer at Tier " +
                                     std::to_string(*request.expected_from_tier) +
                                     " (now at Tier " + std::to_string(from) +
                                     "); nothing changed");
  }
  if (request.to_tier >= from && request.source == DemotionSource::manual) {
    return Status(Code::failed_precondition,
                  "Agent " + request.agent_id + " is at Tier " + std::to_string(from) +
                      "; a demotion must go to a lower tier (asked for Tier " +
                      std::to_string(request.to_tier) + ")");
  }
  return Status::success();
}

Status require_demotion_table(const sqlite::Connection& conn) {
  auto has_column = conn.prepare(
      "SELECT 1 FROM pragma_table_info('sidecar_demotions') WHERE name = 'source'");
  if (!has_column.ok()) return has_column.status();
  auto present = has_column->step();
  if (!present.ok()) return present.status();
  if (!*present) {
    return Status(Code::failed_precondition,
                  "the ledger has no demotion record yet (run `policy-sidecar migrate`)");
  }
  return Status::success();
}

Status insert_demotion(sqlite::Connection& conn, DemotionRecord& record) {
  auto insert = conn.prepare(
      "INSERT INTO sidecar_demotions (timestamp, agent_id, from_tier, to_tier, demoted_by, "
      "reason, source, violation_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
  if (!insert.ok()) return insert.status();
  insert->bind(1, std::string_view(record.timestamp))
      .bind(2, std::string_view(record.agent_id))
      .bind(3, record.from_tier)
      .bind(4, record.to_tier)
      .bind(5, std::string_view(record.demoted_by))
      .bind(6, std::string_view(record.reason))
      .bind(7, to_string(record.source))
      .bind(8, record.violation_id);
  if (Status s = insert->run(); !s.ok()) return s;
  record.id = conn.last_insert_rowid();
  return Status::success();
}

TierChange change_of(const DemotionRecord& record) {
  TierChange change;
  change.kind = TierChange::Kind::demotion;
  change.agent_id = record.agent_id;
  change.from_tier = record.from_tier;
  change.to_tier = record.to_tier;
  change.promotion_id = record.id;
  change.timestamp = record.timestamp;
  change.approved_by = record.demoted_by;
  change.source = record.source;
  change.violation_id = record.violation_id;
  return change;
}

}  // namespace

Result<DemotionRecord> Ledger::demote_locked(const DemotionRequest& request,
                                             const TierChangeHook& hook) {
  if (request.to_tier < 0 || request.to_tier > kMaxTier) {
    return Status(Code::invalid_argument, "--to-tier must be 0.." + std::to_string(kMaxTier) +
                                              " (got " + std::to_string(request.to_tier) + ")");
  }
  if (Status s = require_demotion_table(*conn_); !s.ok()) return s;
  auto tier = current_tier(request.agent_id);
  if (!tier.ok()) return tier.status();
  if (!*tier) return Status(Code::failed_precondition, "Agent " + request.agent_id + " not found");
  const std::int64_t from = **tier;
  if (Status s = demotion_refused(request, from); !s.ok()) return s;
  DemotionRecord record{0,           format_isoformat_utc(request.now),
                        request.agent_id, from,
                        std::min(from, request.to_tier), request.demoted_by,
                        request.reason, request.source,
                        request.violation_id};
  if (record.to_tier < from) {
    auto update = conn_->prepare(
        "UPDATE agent_metrics SET current_tier = ?1, updated_at = ?2 "
        "WHERE agent_id = ?3 AND current_tier = ?4");
    if (!update.ok()) return update.status();
    update->bind(1, record.to_tier)
        .bind(2, std::string_view(record.timestamp))
        .bind(3, std::string_view(request.agent_id))
        .bind(4, from);
    if (Status s = update->run(); !s.ok()) return s;
    if (conn_->changes() != 1) {
      return Status(Code::aborted, "Agent " + request.agent_id + " is no longer at Tier " +
                                       std::to_string(from) + "; nothing changed");
    }
  }
  if (Status s = insert_demotion(*conn_, record); !s.ok()) return s;
  if (hook) {
    LedgerTx view(*conn_);
    if (Status s = hook(view, change_of(record)); !s.ok()) return s;
  }
  return record;
}

}  // namespace ps::engine
