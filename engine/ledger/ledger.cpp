#include "engine/ledger/ledger.h"

#include <algorithm>

namespace ps::engine {
namespace {

struct RequiredTable {
  std::string_view name;
  std::vector<std::string_view> columns;
};

// What the sidecar reads or writes in the upstream schema. Extra columns are fine.
const std::vector<RequiredTable>& required_tables() {
  static const std::vector<RequiredTable> kTables = {
      {"agent_metrics",
       {"agent_id", "current_tier", "compliant_runs", "consecutive_compliant", "total_runs",
        "updated_at"}},
      {"agent_actions", {"id", "timestamp", "agent_id", "action", "decision", "success"}},
      {"violations", {"id", "timestamp", "agent_id"}},
      {"promotions",
       {"id", "timestamp", "agent_id", "from_tier", "to_tier", "approved_by", "rationale",
        "evidence"}},
  };
  return kTables;
}

}  // namespace

Result<std::unique_ptr<Ledger>> Ledger::open(const LedgerOptions& options) {
  auto conn = sqlite::Connection::open_existing(options.path, options.busy_timeout_ms);
  if (!conn.ok()) return conn.status();
  std::unique_ptr<Ledger> ledger(new Ledger(std::move(conn).value(), options));
  if (Status s = ledger->check_upstream_schema(); !s.ok()) return s;
  if (options.read_only) {
    if (Status s = ledger->conn_->exec("PRAGMA query_only = ON"); !s.ok()) return s;
  }
  return ledger;
}

Status Ledger::check_upstream_schema() {
  for (const RequiredTable& table : required_tables()) {
    auto stmt = conn_->prepare("SELECT name FROM pragma_table_info(?1)");
    if (!stmt.ok()) return stmt.status();
    stmt->bind(1, table.name);
    std::vector<std::string> have;
    for (;;) {
      auto row = stmt->step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      have.emplace_back(stmt->column_text(0));
    }
    if (have.empty()) {
      return {Code::not_a_ledger, "not a governance ledger: " + conn_->path() + " has no table " +
                                      std::string(table.name)};
    }
    for (std::string_view col : table.columns) {
      if (std::find(have.begin(), have.end(), col) == have.end()) {
        return {Code::not_a_ledger, "not a governance ledger: table " + std::string(table.name) +
                                        " in " + conn_->path() + " has no column " +
                                        std::string(col)};
      }
    }
  }
  return Status::success();
}

Result<PromotionHistory> Ledger::promotion_history(const std::optional<std::string>& agent_id,
                                                   std::int64_t limit) {
  // Ties in timestamp come in rowid order: what SQLite's sorter gives the reference engine's
  // ORDER BY timestamp DESC on the unindexed promotions table.
  const char* sql = agent_id
      ? "SELECT * FROM promotions WHERE agent_id = ?1 ORDER BY timestamp DESC, rowid ASC LIMIT ?2"
      : "SELECT * FROM promotions ORDER BY timestamp DESC, rowid ASC LIMIT ?2";
  auto stmt = conn_->prepare(sql);
  if (!stmt.ok()) return stmt.status();
  if (agent_id) stmt->bind(1, std::string_view(*agent_id));
  stmt->bind(2, limit);
  PromotionHistory history;
  for (int i = 0; i < stmt->column_count(); ++i) history.columns.push_back(stmt->column_name(i));
  for (;;) {
    auto row = stmt->step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    std::vector<SqlValue> values;
    for (int i = 0; i < stmt->column_count(); ++i) {
      auto v = stmt->column_value(i);
      if (!v) {
        return Status(Code::invalid_data, "promotions row: column " + history.columns[
                                              static_cast<std::size_t>(i)] +
                                              " holds binary data (BLOB)");
      }
      values.push_back(std::move(*v));
    }
    history.rows.push_back(std::move(values));
  }
  return history;
}

}  // namespace ps::engine
