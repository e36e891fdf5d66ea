#include "engine/ledger/sqlite.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <cassert>
#include <cerrno>
#include <cstring>

namespace ps::engine::sqlite {

Statement::Statement(Statement&& other) noexcept : conn_(other.conn_), stmt_(other.stmt_) {
  other.stmt_ = nullptr;
}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(stmt_);
    conn_ = other.conn_;
    stmt_ = other.stmt_;
    other.stmt_ = nullptr;
  }
  return *this;
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

Statement& Statement::bind(int index, std::string_view text) {
  [[maybe_unused]] int rc = sqlite3_bind_text(stmt_, index, text.data(),
                                              static_cast<int>(text.size()), SQLITE_TRANSIENT);
  assert(rc == SQLITE_OK);
  return *this;
}

Statement& Statement::bind(int index, std::int64_t value) {
  [[maybe_unused]] int rc = sqlite3_bind_int64(stmt_, index, value);
  assert(rc == SQLITE_OK);
  return *this;
}

Statement& Statement::bind(int index, const std::optional<std::string>& text) {
  if (!text) {
    sqlite3_bind_null(stmt_, index);
    return *this;
  }
  return bind(index, std::string_view(*text));
}

Statement& Statement::bind(int index, const std::optional<std::int64_t>& value) {
  if (!value) {
    sqlite3_bind_null(stmt_, index);
    return *this;
  }
  return bind(index, *value);
}

Statement& Statement::bind(int index, const SqlValue& value) {
  if (std::holds_alternative<std::monostate>(value)) {
    sqlite3_bind_null(stmt_, index);
  } else if (const auto* i = std::get_if<std::int64_t>(&value)) {
    bind(index, *i);
  } else if (const auto* d = std::get_if<double>(&value)) {
    sqlite3_bind_double(stmt_, index, *d);
  } else {
    bind(index, std::string_view(std::get<std::string>(value)));
  }
  return *this;
}

Result<bool> Statement::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return conn_->status_from_sqlite(rc, sqlite3_sql(stmt_));
}

Status Statement::run() {
  for (;;) {
    auto r = step();
    if (!r.ok()) return r.status();
    if (!*r) return Status::success();
  }
}

void Statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

int Statement::column_count() const { return sqlite3_column_count(stmt_); }

std::string Statement::column_name(int i) const {
  const char* n = sqlite3_column_name(stmt_, i);
  return n ? n : "";
}

bool Statement::column_is_null(int i) const {
  return sqlite3_column_type(stmt_, i) == SQLITE_NULL;
}

bool Statement::column_is_integer(int i) const {
  return sqlite3_column_type(stmt_, i) == SQLITE_INTEGER;
}

std::int64_t Statement::column_int(int i) const { return sqlite3_column_int64(stmt_, i); }

std::string_view Statement::column_text(int i) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, i));
  if (!p) return {};
  return {p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, i))};
}

std::optional<std::string> Statement::column_optional_text(int i) const {
  if (column_is_null(i)) return std::nullopt;
  return std::string(column_text(i));
}

std::optional<std::int64_t> Statement::column_optional_int(int i) const {
  if (column_is_null(i)) return std::nullopt;
  return column_int(i);
}

// Built in place: returning temporaries makes GCC 12 report a false maybe-uninitialized in
// sanitizer builds.
std::optional<SqlValue> Statement::column_value(int i) const {
  std::optional<SqlValue> out;
  switch (sqlite3_column_type(stmt_, i)) {
    case SQLITE_NULL:
      out.emplace(std::in_place_type<std::monostate>);
      break;
    case SQLITE_INTEGER:
      out.emplace(std::in_place_type<std::int64_t>, sqlite3_column_int64(stmt_, i));
      break;
    case SQLITE_FLOAT:
      out.emplace(std::in_place_type<double>, sqlite3_column_double(stmt_, i));
      break;
    case SQLITE_TEXT:
      out.emplace(std::in_place_type<std::string>, column_text(i));
      break;
    default:
      break;
  }
  return out;
}

Result<std::unique_ptr<Connection>> Connection::open_existing(const std::string& path,
                                                              std::int64_t busy_timeout_ms) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return Status(Code::not_found, "ledger not found: " + path);
    return Status(Code::unavailable,
                  "cannot access ledger " + path + ": " + std::strerror(errno));
  }
  if (S_ISDIR(st.st_mode)) {
    return Status(Code::not_a_ledger, "not a governance ledger: " + path + " is a directory");
  }
  sqlite3* db = nullptr;
  // No SQLITE_OPEN_CREATE: a mistyped path must never produce an empty ledger.
  const int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                                 nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return Status(Code::unavailable, "cannot open ledger " + path + ": " + msg);
  }
  sqlite3_extended_result_codes(db, 0);
  sqlite3_busy_timeout(db, static_cast<int>(busy_timeout_ms));
  return std::unique_ptr<Connection>(new Connection(db, path, busy_timeout_ms));
}

Connection::~Connection() { sqlite3_close_v2(db_); }

Result<Statement> Connection::prepare(std::string_view sql) const {
  sqlite3_stmt* stmt = nullptr;
  const char* tail = nullptr;
  const int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, &tail);
  if (rc != SQLITE_OK) return status_from_sqlite(rc, sql);
  return Statement(this, stmt);
}

Status Connection::exec(std::string_view sql) {
  const std::string text(sql);
  const int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return status_from_sqlite(rc, sql);
  return Status::success();
}

std::int64_t Connection::changes() const { return sqlite3_changes64(db_); }
std::int64_t Connection::last_insert_rowid() const { return sqlite3_last_insert_rowid(db_); }
bool Connection::in_transaction() const { return sqlite3_get_autocommit(db_) == 0; }

Status Connection::status_from_sqlite(int rc, std::string_view doing) const {
  const std::string where = " (" + path_ + ")";
  switch (rc & 0xFF) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return {Code::unavailable, "ledger is locked by another process; gave up after " +
                                     std::to_string(busy_timeout_ms_) + " ms" + where};
    case SQLITE_NOTADB:
      return {Code::not_a_ledger, "not a governance ledger: " + path_ + " is not a SQLite database"};
    case SQLITE_CORRUPT:
      return {Code::internal, "ledger file is corrupt" + where};
    case SQLITE_READONLY:
      return {Code::failed_precondition, "ledger is read-only" + where};
    case SQLITE_FULL:
      return {Code::unavailable, "disk full while writing the ledger" + where};
    case SQLITE_IOERR:
      return {Code::unavailable, "I/O error on the ledger" + where};
    case SQLITE_CANTOPEN:
      return {Code::unavailable, "cannot open the ledger or its journal" + where};
    case SQLITE_NOMEM:
      return {Code::unavailable, "out of memory"};
    default: {
      std::string what(doing.substr(0, 80));
      for (char& c : what) {
        if (c == '\n' || c == '\r') c = ' ';
      }
      return {Code::internal, std::string("ledger error: ") + sqlite3_errmsg(db_) + " in: " +
                                  what + where};
    }
  }
}

Result<Transaction> Transaction::begin(Connection& conn, Kind kind) {
  Status s = conn.exec(kind == Kind::write ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED");
  if (!s.ok()) return s;
  return Transaction(&conn);
}

Transaction::~Transaction() { rollback(); }

Status Transaction::commit() {
  if (!conn_) return Status(Code::internal, "transaction already finished");
  Status s = conn_->exec("COMMIT");
  if (!s.ok()) return s;  // still open: the destructor rolls back
  conn_ = nullptr;
  return Status::success();
}

void Transaction::rollback() {
  if (conn_ && conn_->in_transaction()) (void)conn_->exec("ROLLBACK");
  conn_ = nullptr;
}

}  // namespace ps::engine::sqlite
