#include "engine/approvals.h"

namespace ps::engine {
namespace {

std::optional<std::string> optional_text(const sqlite::Statement& stmt, int col) {
  if (stmt.column_is_null(col)) return std::nullopt;
  return std::string(stmt.column_text(col));
}

std::optional<std::int64_t> optional_int(const sqlite::Statement& stmt, int col) {
  if (stmt.column_is_null(col)) return std::nullopt;
  return stmt.column_int(col);
}

void bind_optional(sqlite::Statement& stmt, int index, const std::optional<std::string>& v) {
  if (v) {
    stmt.bind(index, std::string_view(*v));
  } else {
    stmt.bind(index, SqlValue{});
  }
}

void bind_optional(sqlite::Statement& stmt, int index, const std::optional<std::int64_t>& v) {
  if (v) {
    stmt.bind(index, *v);
  } else {
    stmt.bind(index, SqlValue{});
  }
}

constexpr std::string_view kInsertDelivery =
    "INSERT OR IGNORE INTO sidecar_webhook_deliveries (webhook_id, received_at, "
    "webhook_timestamp, body_sha256, event_type, agent_id, target_tier, actor, review_id, "
    "http_status, response, promotion_id, denial_id) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)";

template <class Prepare>
Status insert_delivery(Prepare&& prepare, const std::function<std::int64_t()>& changes,
                       const WebhookDelivery& d) {
  auto stmt = prepare(kInsertDelivery);
  if (!stmt.ok()) return stmt.status();
  stmt->bind(1, std::string_view(d.webhook_id))
      .bind(2, std::string_view(d.received_at))
      .bind(3, d.webhook_timestamp)
      .bind(4, std::string_view(d.body_sha256))
      .bind(5, std::string_view(d.event_type))
      .bind(6, std::string_view(d.agent_id))
      .bind(7, d.target_tier)
      .bind(8, std::string_view(d.actor));
  bind_optional(*stmt, 9, d.review_id);
  stmt->bind(10, std::int64_t{d.http_status}).bind(11, std::string_view(d.response));
  bind_optional(*stmt, 12, d.promotion_id);
  bind_optional(*stmt, 13, d.denial_id);
  if (Status s = stmt->run(); !s.ok()) return s;
  if (changes() == 0) return {Code::aborted, "webhook id already recorded"};
  return Status::success();
}

DenialRecord read_denial(const sqlite::Statement& stmt) {
  DenialRecord r;
  r.id = stmt.column_int(0);
  r.timestamp = std::string(stmt.column_text(1));
  r.agent_id = std::string(stmt.column_text(2));
  r.current_tier = stmt.column_int(3);
  r.target_tier = stmt.column_int(4);
  r.denied_by = std::string(stmt.column_text(5));
  r.rationale = optional_text(stmt, 6);
  r.review_id = optional_text(stmt, 7);
  r.webhook_id = optional_text(stmt, 8);
  return r;
}

}  // namespace

Status record_delivery(LedgerTx& tx, const WebhookDelivery& delivery) {
  return insert_delivery([&](std::string_view sql) { return tx.prepare(sql); },
                         [&] { return tx.changes(); }, delivery);
}

Result<std::unique_ptr<ApprovalStore>> ApprovalStore::open(const LedgerOptions& options) {
  auto conn = sqlite::Connection::open_existing(options.path, options.busy_timeout_ms);
  if (!conn.ok()) return conn.status();
  return std::unique_ptr<ApprovalStore>(new ApprovalStore(std::move(conn).value()));
}

Result<std::optional<WebhookDelivery>> ApprovalStore::find_delivery(std::string_view webhook_id) {
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
  d.review_id = optional_text(*stmt, 8);
  d.http_status = static_cast<int>(stmt->column_int(9));
  d.response = std::string(stmt->column_text(10));
  d.promotion_id = optional_int(*stmt, 11);
  d.denial_id = optional_int(*stmt, 12);
  return std::optional<WebhookDelivery>(std::move(d));
}

// The tier check and both inserts share the write lock taken by BEGIN IMMEDIATE, so a
// promotion committed by another process between the check and the insert is impossible.
Result<DenialRecord> ApprovalStore::deny(
    const DenialRequest& request,
    const std::function<WebhookDelivery(const DenialRecord&)>& make_delivery) {
  auto tx = sqlite::Transaction::begin(*conn_, sqlite::Transaction::Kind::write);
  if (!tx.ok()) return tx.status();

  auto tier = conn_->prepare("SELECT current_tier FROM agent_metrics WHERE agent_id = ?1");
  if (!tier.ok()) return tier.status();
  tier->bind(1, std::string_view(request.agent_id));
  auto row = tier->step();
  if (!row.ok()) return row.status();
  if (!*row) {
    return Status(Code::failed_precondition, "Agent " + request.agent_id + " not found in metrics");
  }
  if (!tier->column_is_integer(0)) {
    return Status(Code::invalid_data, "agent '" + request.agent_id + "': current_tier is not an integer");
  }
  DenialRecord record;
  record.current_tier = tier->column_int(0);
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
      .bind(5, std::string_view(record.denied_by));
  bind_optional(*insert, 6, record.rationale);
  bind_optional(*insert, 7, record.review_id);
  bind_optional(*insert, 8, record.webhook_id);
  if (Status s = insert->run(); !s.ok()) return s;
  record.id = conn_->last_insert_rowid();

  if (make_delivery) {
    const WebhookDelivery delivery = make_delivery(record);
    Status s = insert_delivery([&](std::string_view sql) { return conn_->prepare(sql); },
                               [&] { return conn_->changes(); }, delivery);
    if (!s.ok()) return s;
  }
  if (Status s = tx->commit(); !s.ok()) return s;
  return record;
}

Result<std::vector<DenialRecord>> ApprovalStore::denials(std::string_view agent_id,
                                                         std::int64_t limit) {
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

namespace {
Result<std::string> journal_pragma(const LedgerOptions& options, std::string_view sql) {
  auto conn = sqlite::Connection::open_existing(options.path, options.busy_timeout_ms);
  if (!conn.ok()) return conn.status();
  auto stmt = (*conn)->prepare(sql);
  if (!stmt.ok()) return stmt.status();
  auto row = stmt->step();
  if (!row.ok()) return row.status();
  if (!*row) return Status(Code::internal, "PRAGMA journal_mode returned no row");
  return std::string(stmt->column_text(0));
}
}  // namespace

Result<std::string> use_wal_journal(const LedgerOptions& options) {
  return journal_pragma(options, "PRAGMA journal_mode = WAL");
}

Result<std::string> journal_mode(const LedgerOptions& options) {
  return journal_pragma(options, "PRAGMA journal_mode");
}

Result<std::unique_ptr<WalCheckpointer>> WalCheckpointer::open(const LedgerOptions& options) {
  auto conn = sqlite::Connection::open_existing(options.path, options.busy_timeout_ms);
  if (!conn.ok()) return conn.status();
  return std::unique_ptr<WalCheckpointer>(new WalCheckpointer(std::move(conn).value()));
}

Result<WalCheckpointer::Progress> WalCheckpointer::checkpoint() {
  auto stmt = conn_->prepare("PRAGMA wal_checkpoint(PASSIVE)");
  if (!stmt.ok()) return stmt.status();
  auto row = stmt->step();
  if (!row.ok()) return row.status();
  Progress p;
  if (*row) {
    p.wal_frames = stmt->column_int(1);
    p.checkpointed = stmt->column_int(2);
  }
  return p;
}

}  // namespace ps::engine
