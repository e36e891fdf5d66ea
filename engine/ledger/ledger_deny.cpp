// The denial transaction: a reviewer said no. The tier does not change; the decision is
// recorded (sidecar_denials) together with whatever the caller writes in the same transaction
// (the webhook delivery that answers it).
#include "engine/ledger/ledger.h"

namespace ps::engine {
namespace {

DenialRecord read_denial(const sqlite::Statement& stmt) {
  DenialRecord r;
  r.id = stmt.column_int(0);
  r.timestamp = std::string(stmt.column_text(1));
  r.agent_id = std::string(stmt.column_text(2));
  r.current_tier = stmt.column_int(3);
  r.target_tier = stmt.column_int(4);
  r.denied_by = std::string(stmt.column_text(5));
  r.rationale = stmt.column_optional_text(6);
  r.review_id = stmt.column_optional_text(7);
  r.webhook_id = stmt.column_optional_text(8);
  return r;
}

}  // namespace

// The tier check and the inserts share the write lock taken by BEGIN IMMEDIATE, so a
// promotion committed by another process between the check and the insert is impossible.
Result<DenialRecord> Ledger::deny(const DenialRequest& request, const DenialHook& hook) {
  auto tx = sqlite::Transaction::begin(*conn_, sqlite::Transaction::Kind::write);
  if (!tx.ok()) return tx.status();
  auto tier = current_tier(request.agent_id);
  if (!tier.ok()) return tier.status();
  if (!*tier) {
    return Status(Code::failed_precondition, "Agent " + request.agent_id + " not found in metrics");
  }
  DenialRecord record;
  record.current_tier = **tier;
  if (record.current_tier != request.target_tier - 1) {
    return Status(Code::failed_precondition,
                  "Agent " + request.agent_id + " is at Tier " +
                      std::to_string(record.current_tier) + ", not Tier " +
                      std::to_string(request.target_tier - 1) + "; nothing to deny");
  }
  record.timestamp = format_isoformat_utc(request.now);
  record.agent_id = request.agent_id;
  record.target_tier = request.target_tier;
  record.denied_by = request.denied_by;
  record.rationale = request.rationale;
  record.review_id = request.review_id;
  record.webhook_id = request.webhook_id;
  auto insert = conn_->prepare(
      "INSERT INTO sidecar_denials (timestamp, agent_id, current_tier, target_tier, denied_by, "
      "rationale, review_id, webhook_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
  if (!insert.ok()) return insert.status();
  insert->bind(1, std::string_view(record.timestamp))
      .bind(2, std::string_view(record.agent_id))
      .bind(3, record.current_tier)
      .bind(4, record.target_tier)
      .bind(5, std::string_view(record.denied_by))
      .bind(6, record.rationale)
      .bind(7, record.review_id)
      .bind(8, record.webhook_id);
  if (Status s = insert->run(); !s.ok()) return s;
  record.id = conn_->last_insert_rowid();
  if (hook) {
    LedgerTx view(*conn_);
    if (Status s = hook(view, record); !s.ok()) return s;
  }
  if (Status s = tx->commit(); !s.ok()) return s;
  return record;
}

Result<std::vector<DenialRecord>> Ledger::denials(std::string_view agent_id, std::int64_t limit) {
  const char* sql = agent_id.empty()
      ? "SELECT id, timestamp, agent_id, current_tier, target_tier, denied_by, rationale, "
        "review_id, webhook_id FROM sidecar_denials ORDER BY id DESC LIMIT ?2"
      : "SELECT id, timestamp, agent_id, current_tier, target_tier, denied_by, rationale, "
        "review_id, webhook_id FROM sidecar_denials WHERE agent_id = ?1 ORDER BY id DESC LIMIT ?2";
  auto stmt = conn_->prepare(sql);
  if (!stmt.ok()) return stmt.status();
  if (!agent_id.empty()) stmt->bind(1, agent_id);
  stmt->bind(2, limit);
  std::vector<DenialRecord> out;
  for (;;) {
    auto row = stmt->step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    out.push_back(read_denial(*stmt));
  }
  return out;
}

}  // namespace ps::engine
