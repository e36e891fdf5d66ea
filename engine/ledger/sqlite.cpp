#include "engine/ledger/sqlite.h"

#include "engine/ledger/lock_waits.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <atomic>
#include <cassert>
#include <cerrno>
#include <cstring>
#include <thread>

namespace ps::engine::sqlite {

namespace {

struct LockWaitCounters {
  std::array<std::atomic<std::uint64_t>, kLockWaitBounds.size() + 1> buckets{};
  std::atomic<std::uint64_t> count{0};
  std::atomic<std::uint64_t> sum_ns{0};
};

LockWaitCounters& counters(LockStep step) {
  static LockWaitCounters begin_write, commit;
  return step == LockStep::begin_write ? begin_write : commit;
}

void record_wait(LockStep step, std::chrono::steady_clock::duration d) {
  const double s = std::chrono::duration<double>(d).count();
  std::size_t i = 0;
  while (i < kLockWaitBounds.size() && s > kLockWaitBounds[i]) ++i;
  LockWaitCounters& c = counters(step);
  c.buckets[i].fetch_add(1, std::memory_order_relaxed);
  c.count.fetch_add(1, std::memory_order_relaxed);
  c.sum_ns.fetch_add(static_cast<std::uint64_t>(
                         std::chrono::duration_cast<std::chrono::nanoseconds>(d).count()),
                     std::memory_order_relaxed);
}

// Timed statement: records how long `exec` took as a lock wait of `step`.
Status timed_exec(Connection& conn, std::string_view sql, LockStep step) {
  const auto start = std::chrono::steady_clock::now();
  Status s = conn.exec(sql);
  record_wait(step, std::chrono::steady_clock::now() - start);
  return s;
}

}  // namespace

LockWaitSnapshot lock_waits(LockStep step) {
  const LockWaitCounters& c = counters(step);
  LockWaitSnapshot out;
  for (std::size_t i = 0; i < out.buckets.size(); ++i) {
    out.buckets[i] = c.buckets[i].load(std::memory_order_relaxed);
  }
  out.count = c.count.load(std::memory_order_relaxed);
  out.sum_seconds = static_cast<double>(c.sum_ns.load(std::memory_order_relaxed)) / 1e9;
  return out;
}

// SQLite's own busy timeout sleeps 1, 2, 5, 10 ... 100 ms between attempts, so a lock held for
// a millisecond can cost a waiter 100 ms and a busy waiter can lose to newcomers for a second.
// This handler retries every 50 us at first and backs off to at most 1 ms, until the timeout.
int Connection::on_busy(void* self, int attempt) {
  auto* conn = static_cast<Connection*>(self);
  const auto now = std::chrono::steady_clock::now();
  if (attempt == 0) conn->busy_since_ = now;
  if (now - conn->busy_since_ >= std::chrono::milliseconds{conn->busy_timeout_ms_}) return 0;
  const auto pause = std::chrono::microseconds{std::min(1000, 50 * (1 + attempt / 4))};
  std::this_thread::sleep_for(pause);
  return 1;
}

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

namespace {

// Before SQLite's first use in this process: no memory statistics. With them every allocation
// of every connection takes one process-wide mutex, which the sync workers' threads (one
// connection each) contend for. Nothing here reads them.
void configure_sqlite_once() {
  static const int configured = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  (void)configured;  // SQLITE_MISUSE when SQLite was already initialised: then it stays on
}

}  // namespace

Result<std::unique_ptr<Connection>> Connection::open_existing(const std::string& path,
                                                              std::int64_t busy_timeout_ms) {
  configure_sqlite_once();
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
  std::unique_ptr<Connection> conn(new Connection(db, path, busy_timeout_ms));
  sqlite3_busy_handler(db, &Connection::on_busy, conn.get());
  return conn;
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
  Status s = kind == Kind::write ? timed_exec(conn, "BEGIN IMMEDIATE", LockStep::begin_write)
                                 : conn.exec("BEGIN DEFERRED");
  if (!s.ok()) return s;
  return Transaction(&conn, kind);
}

Transaction::~Transaction() { rollback(); }

Status Transaction::commit() {
  if (!conn_) return Status(Code::internal, "transaction already finished");
  // Only a write's COMMIT waits for the lock (and syncs): a read's ends its snapshot.
  Status s = kind_ == Kind::write ? timed_exec(*conn_, "COMMIT", LockStep::commit)
                                  : conn_->exec("COMMIT");
  if (!s.ok()) return s;  // still open: the destructor rolls back
  conn_ = nullptr;
  return Status::success();
}

void Transaction::rollback() {
  if (conn_ && conn_->in_transaction()) (void)conn_->exec("ROLLBACK");
  conn_ = nullptr;
}

}  // namespace ps::engine::sqlite
