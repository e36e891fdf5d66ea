#include "engine/ledger/wal.h"

namespace ps::engine {
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
