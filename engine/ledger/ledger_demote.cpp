// The demotion transaction (architecture "Data flow" step 2 for a tier going down).
#include "engine/ledger/ledger.h"

namespace ps::engine {

// Same shape as promote(): the write lock first, the tier read inside the transaction, a
// conditional UPDATE that must change exactly one row, the record, the hook (the outbox row,
// so Vault follows), COMMIT. There are no rules to re-evaluate: a demotion is a decision.
Result<DemotionRecord> Ledger::demote(const DemotionRequest& request, const TierChangeHook& hook) {
  if (request.to_tier < 0 || request.to_tier > kMaxTier) {
    return Status(Code::invalid_argument, "--to-tier must be 0.." + std::to_string(kMaxTier) +
                                              " (got " + std::to_string(request.to_tier) + ")");
  }
  const std::string now_iso = format_isoformat_utc(request.now);
  auto tx = sqlite::Transaction::begin(*conn_, sqlite::Transaction::Kind::write);
  if (!tx.ok()) return tx.status();

  auto has_table = conn_->prepare(
      "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sidecar_demotions'");
  if (!has_table.ok()) return has_table.status();
  auto present = has_table->step();
  if (!present.ok()) return present.status();
  if (!*present) {
    return Status(Code::failed_precondition,
                  "the ledger has no demotion record yet (run `policy-sidecar migrate`)");
  }

  auto tier = current_tier(request.agent_id);
  if (!tier.ok()) return tier.status();
  if (!*tier) {
    return Status(Code::failed_precondition, "Agent " + request.agent_id + " not found");
  }
  const std::int64_t from = **tier;
  if (request.expected_from_tier && from != *request.expected_from_tier) {
    return Status(Code::aborted, "Agent " + request.agent_id + " is no longer at Tier " +
                                     std::to_string(*request.expected_from_tier) +
                                     " (now at Tier " + std::to_string(from) +
                                     "); nothing changed");
  }
  if (request.to_tier >= from) {
    return Status(Code::failed_precondition,
                  "Agent " + request.agent_id + " is at Tier " + std::to_string(from) +
                      "; a demotion must go to a lower tier (asked for Tier " +
                      std::to_string(request.to_tier) + ")");
  }

  auto update = conn_->prepare(
      "UPDATE agent_metrics SET current_tier = ?1, updated_at = ?2 "
      "WHERE agent_id = ?3 AND current_tier = ?4");
  if (!update.ok()) return update.status();
  update->bind(1, request.to_tier)
      .bind(2, std::string_view(now_iso))
      .bind(3, std::string_view(request.agent_id))
      .bind(4, from);
  if (Status s = update->run(); !s.ok()) return s;
  if (conn_->changes() != 1) {
    return Status(Code::aborted, "Agent " + request.agent_id + " is no longer at Tier " +
                                     std::to_string(from) + "; nothing changed");
  }

  DemotionRecord record{0,         now_iso,   request.agent_id, from, request.to_tier,
                        request.demoted_by, request.reason};
  auto insert = conn_->prepare(
      "INSERT INTO sidecar_demotions (timestamp, agent_id, from_tier, to_tier, demoted_by, "
      "reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  if (!insert.ok()) return insert.status();
  insert->bind(1, std::string_view(record.timestamp))
      .bind(2, std::string_view(record.agent_id))
      .bind(3, record.from_tier)
      .bind(4, record.to_tier)
      .bind(5, std::string_view(record.demoted_by))
      .bind(6, std::string_view(record.reason));
  if (Status s = insert->run(); !s.ok()) return s;
  record.id = conn_->last_insert_rowid();

  if (hook) {
    LedgerTx view(*conn_);
    const TierChange change{TierChange::Kind::demotion, record.agent_id, record.from_tier,
                            record.to_tier, record.id, record.timestamp, record.demoted_by};
    if (Status s = hook(view, change); !s.ok()) return s;
  }
  if (Status s = tx->commit(); !s.ok()) return s;
  return record;
}

}  // namespace ps::engine
