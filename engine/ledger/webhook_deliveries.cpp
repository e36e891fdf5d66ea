#include "engine/ledger/webhook_deliveries.h"

namespace ps::engine {

Status record_delivery(LedgerTx& tx, const WebhookDelivery& d) {
  auto stmt = tx.prepare(
      "INSERT OR IGNORE INTO sidecar_webhook_deliveries (webhook_id, received_at, "
      "webhook_timestamp, body_sha256, event_type, agent_id, target_tier, actor, review_id, "
      "http_status, response, promotion_id, denial_id) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)");
  if (!stmt.ok()) return stmt.status();
  stmt->bind(1, std::string_view(d.webhook_id))
      .bind(2, std::string_view(d.received_at))
      .bind(3, d.webhook_timestamp)
      .bind(4, std::string_view(d.body_sha256))
      .bind(5, std::string_view(d.event_type))
      .bind(6, std::string_view(d.agent_id))
      .bind(7, d.target_tier)
      .bind(8, std::string_view(d.actor))
      .bind(9, d.review_id)
      .bind(10, std::int64_t{d.http_status})
      .bind(11, std::string_view(d.response))
      .bind(12, d.promotion_id)
      .bind(13, d.denial_id);
  if (Status s = stmt->run(); !s.ok()) return s;
  if (tx.changes() == 0) return {Code::aborted, "webhook id already recorded"};
  return Status::success();
}

Result<std::optional<WebhookDelivery>> Ledger::find_delivery(std::string_view webhook_id) {
  auto stmt = conn_->prepare(
      "SELECT webhook_id, received_at, webhook_timestamp, body_sha256, event_type, agent_id, "
      "target_tier, actor, review_id, http_status, response, promotion_id, denial_id "
      "FROM sidecar_webhook_deliveries WHERE webhook_id = ?1");
  if (!stmt.ok()) return stmt.status();
  stmt->bind(1, webhook_id);
  auto row = stmt->step();
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<WebhookDelivery>{};
  WebhookDelivery d;
  d.webhook_id = std::string(stmt->column_text(0));
  d.received_at = std::string(stmt->column_text(1));
  d.webhook_timestamp = stmt->column_int(2);
  d.body_sha256 = std::string(stmt->column_text(3));
  d.event_type = std::string(stmt->column_text(4));
  d.agent_id = std::string(stmt->column_text(5));
  d.target_tier = stmt->column_int(6);
  d.actor = std::string(stmt->column_text(7));
  d.review_id = stmt->column_optional_text(8);
  d.http_status = static_cast<int>(stmt->column_int(9));
  d.response = std::string(stmt->column_text(10));
  d.promotion_id = stmt->column_optional_int(11);
  d.denial_id = stmt->column_optional_int(12);
  return std::optional<WebhookDelivery>(std::move(d));
}

}  // namespace ps::engine
