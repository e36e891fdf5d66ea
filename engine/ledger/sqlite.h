// The SQLite adapter: the only code in engine/ that calls the SQLite C API. Every SQLite result
// code becomes a Status here (see status_from_sqlite), so nothing above sees library errors.
//
// Thread safety: a Connection and its Statements belong to one thread at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "engine/base/status.h"
#include "engine/rules/value.h"

struct sqlite3;
struct sqlite3_stmt;

namespace ps::engine::sqlite {

class Connection;

// A prepared statement. Move-only; finalized on destruction.
class Statement {
 public:
  Statement(const Connection* conn, sqlite3_stmt* stmt) : conn_(conn), stmt_(stmt) {}
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  // Binds by 1-based index. Binding never fails for valid indexes; a bad index is a bug.
  Statement& bind(int index, const SqlValue& value);
  Statement& bind(int index, std::string_view text);
  Statement& bind(int index, std::int64_t value);
  // NULL when the optional is empty.
  Statement& bind(int index, const std::optional<std::string>& text);
  Statement& bind(int index, const std::optional<std::int64_t>& value);

  // Advances: true when a row is available, false when done; errors mapped by
  // status_from_sqlite (e.g. unavailable when the ledger stayed locked).
  Result<bool> step();
  // Steps to completion, discarding rows.
  Status run();
  void reset();

  int column_count() const;
  std::string column_name(int i) const;
  bool column_is_null(int i) const;
  bool column_is_integer(int i) const;
  std::int64_t column_int(int i) const;
  std::string_view column_text(int i) const;  // valid until the next step/reset
  // nullopt for NULL.
  std::optional<std::string> column_optional_text(int i) const;
  std::optional<std::int64_t> column_optional_int(int i) const;
  // The cell; nullopt for a BLOB (not representable as a SqlValue).
  std::optional<SqlValue> column_value(int i) const;

 private:
  const Connection* conn_;
  sqlite3_stmt* stmt_;
};

class Connection {
 public:
  // Opens an EXISTING database file read-write (never creates one: a wrong path must not
  // leave an empty ledger behind). not_found when the file does not exist; other failures
  // mapped by status_from_sqlite. `busy_timeout_ms` bounds every wait for a lock.
  static Result<std::unique_ptr<Connection>> open_existing(const std::string& path,
                                                           std::int64_t busy_timeout_ms);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // One statement (trailing text other than whitespace is a bug).
  Result<Statement> prepare(std::string_view sql) const;
  // One or more statements without parameters (DDL, BEGIN/COMMIT).
  Status exec(std::string_view sql);

  std::int64_t changes() const;
  std::int64_t last_insert_rowid() const;
  bool in_transaction() const;
  const std::string& path() const { return path_; }
  std::int64_t busy_timeout_ms() const { return busy_timeout_ms_; }

  // Maps a SQLite result code to a Status; `doing` says what was attempted ("reading ...").
  Status status_from_sqlite(int rc, std::string_view doing) const;

 private:
  Connection(sqlite3* db, std::string path, std::int64_t busy_timeout_ms)
      : db_(db), path_(std::move(path)), busy_timeout_ms_(busy_timeout_ms) {}
  static int on_busy(void* self, int attempt);
  sqlite3* db_;
  std::string path_;
  std::int64_t busy_timeout_ms_;
  std::chrono::steady_clock::time_point busy_since_{};  // the current wait's first attempt
};

// A transaction that rolls back unless commit() succeeds. Write transactions use
// BEGIN IMMEDIATE, so the write lock is taken (or the busy timeout expires) up front and a
// transaction never fails half-way for lack of the lock.
class Transaction {
 public:
  enum class Kind { read, write };
  static Result<Transaction> begin(Connection& conn, Kind kind);
  Transaction(Transaction&& other) noexcept : conn_(other.conn_), kind_(other.kind_) {
    other.conn_ = nullptr;
  }
  Transaction& operator=(Transaction&&) = delete;
  Transaction(const Transaction&) = delete;
  ~Transaction();

  Status commit();
  void rollback();

 private:
  Transaction(Connection* conn, Kind kind) : conn_(conn), kind_(kind) {}
  Connection* conn_;
  Kind kind_;
};

}  // namespace ps::engine::sqlite
