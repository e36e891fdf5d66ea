// The promotion transaction.
#include "engine/rules/evaluation_json.h"
#include "engine/ledger/ledger.h"

namespace ps::engine {
namespace {

// The refusal names a running cooldown (the reference's message has no room for it otherwise).
std::string cooldown_detail(const Evaluation& e) {
  for (const auto& sentence : e.requirements_missing) {
    if (sentence.rfind(kCooldownSentencePrefix, 0) == 0) return " (" + sentence + ")";
  }
  return "";
}

}  // namespace

// The order of the steps is the point of this function:
//  1. BEGIN IMMEDIATE takes the write lock first, so the facts read in step 2 cannot change
//     before we commit (no check-then-act race with another promote or the platform).
//  2. Re-read and re-evaluate inside the transaction; the caller's earlier evaluation is
//     only advisory.
//  3. The UPDATE is conditional on the tier we evaluated, and must change exactly one row:
//     a second line of defence should the lock ever not be exclusive (e.g. a foreign writer
//     not honouring locks).
//  4. The promotions row, then the hook (the sidecar's Vault outbox row), then COMMIT: all or
//     nothing.
Result<PromotionRecord> Ledger::promote(const PromotionRequest& request, const Rules& rules,
                                        const TierChangeHook& hook) {
  auto tx = sqlite::Transaction::begin(*conn_, sqlite::Transaction::Kind::write);
  if (!tx.ok()) return tx.status();
  auto record = promote_locked(request, rules, hook);
  if (!record.ok()) return record;
  if (Status s = tx->commit(); !s.ok()) return s;
  return record;
}

// Steps 2-4 above, inside a write transaction the caller opened (promote, promote_batch).
Result<PromotionRecord> Ledger::promote_locked(const PromotionRequest& request, const Rules& rules,
                                               const TierChangeHook& hook) {
  const std::string now_iso = format_isoformat_utc(request.now);
  auto facts = load_agent_facts(request.agent_id, now_iso);
  if (!facts.ok()) return facts.status();
  const Evaluation evaluation =
      *facts ? evaluate(*facts, rules, request.now)
             : evaluate_unknown_agent(request.agent_id, request.now);
  if (*facts && request.expected_from_tier &&
      evaluation.current_tier != *request.expected_from_tier) {
    return Status(Code::aborted, "Agent " + request.agent_id + " is no longer at Tier " +
                                     std::to_string(*request.expected_from_tier) +
                                     " (now at Tier " + std::to_string(evaluation.current_tier) +
                                     "); nothing changed");
  }
  // A freeze or an unhandled violation is the reason to give, before the evaluation's own.
  if (request.precondition) {
    LedgerTx view(*conn_);
    if (Status s = request.precondition(view); !s.ok()) return s;
  }
  if (!is_promotable(evaluation.status)) {
    return Status(Code::failed_precondition, "Agent not eligible: " + evaluation.recommendation +
                                                 cooldown_detail(evaluation));
  }

  auto update = conn_->prepare(
      "UPDATE agent_metrics SET current_tier = ?1, updated_at = ?2 "
      "WHERE agent_id = ?3 AND current_tier = ?4");
  if (!update.ok()) return update.status();
  update->bind(1, evaluation.target_tier)
      .bind(2, std::string_view(now_iso))
      .bind(3, std::string_view(request.agent_id))
      .bind(4, evaluation.current_tier);
  if (Status s = update->run(); !s.ok()) return s;
  if (conn_->changes() != 1) {
    return Status(Code::aborted, "Agent " + request.agent_id + " is no longer at Tier " +
                                     std::to_string(evaluation.current_tier) + "; nothing changed");
  }

  PromotionRecord record;
  record.timestamp = now_iso;
  record.agent_id = request.agent_id;
  record.from_tier = evaluation.current_tier;
  record.to_tier = evaluation.target_tier;
  record.approved_by = request.approved_by;
  record.rationale = request.rationale && !request.rationale->empty() ? *request.rationale
                                                                       : evaluation.recommendation;
  record.evidence_json = evidence_json_compact(evaluation.evidence);

  auto insert = conn_->prepare(
      "INSERT INTO promotions "
      "(timestamp, agent_id, from_tier, to_tier, approved_by, rationale, evidence) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
  if (!insert.ok()) return insert.status();
  insert->bind(1, std::string_view(record.timestamp))
      .bind(2, std::string_view(record.agent_id))
      .bind(3, record.from_tier)
      .bind(4, record.to_tier)
      .bind(5, std::string_view(record.approved_by))
      .bind(6, std::string_view(record.rationale))
      .bind(7, std::string_view(record.evidence_json));
  if (Status s = insert->run(); !s.ok()) return s;
  record.id = conn_->last_insert_rowid();

  if (hook) {
    LedgerTx view(*conn_);
    TierChange change;
    change.agent_id = record.agent_id;
    change.from_tier = record.from_tier;
    change.to_tier = record.to_tier;
    change.promotion_id = record.id;
    change.timestamp = record.timestamp;
    change.approved_by = record.approved_by;
    if (Status s = hook(view, change); !s.ok()) return s;
  }
  record.evaluation = evaluation;
  return record;
}

}  // namespace ps::engine
