// Shared helpers for tests: temporary directories, running the real binaries, and raw
// SQLite access to ledgers made from the vendored upstream schema. Helpers throw
// std::runtime_error on setup failures (a test that cannot set up must fail loudly).
#pragma once

#include <spawn.h>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/temp_dir.h"

struct sqlite3;

namespace ps::testing {

// Environment set by CTest (tests/CMakeLists.txt); throws if missing.
std::string env_or_throw(const char* name);
std::string upstream_schema_path();     // PS_UPSTREAM_SCHEMA
std::string reference_engine_path();    // PS_REFERENCE_ENGINE
std::string system_python();            // PS_SYSTEM_PYTHON
std::string build_dir();                // PS_BUILD_DIR
std::string repo_root();                // PS_REPO_ROOT
std::string sidecar_binary();           // $PS_BUILD_DIR/sidecar/policy-sidecar
std::string gen_ledger_binary();        // $PS_BUILD_DIR/tests/support/ps-gen-ledger
std::string reference_harness();        // tests/support/reference_harness.py

struct ProcessResult {
  int exit_code = -1;  // 128 + signal when killed
  std::string out;
  std::string err;
};

// A child process with captured stdout/stderr (and /dev/null as stdin).
class Process {
 public:
  // `env` entries "K=V" are added to (or override) this process's environment.
  Process(const std::vector<std::string>& argv, const std::vector<std::string>& env = {});
  ~Process();
  Process(Process&& other) noexcept;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  // Reads both pipes to the end and reaps the child.
  ProcessResult wait();

 private:
  int pid_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
};

ProcessResult run_process(const std::vector<std::string>& argv,
                          const std::vector<std::string>& env = {});

// Raw access to a ledger file, independent of engine/ (so tests check the product's writes
// with code that is not the product's).
// This process's environment with `remove`d names dropped and `overrides` ("NAME=value")
// applied, as "NAME=value" strings sorted by name: a spawned child's environment.
std::vector<std::string> merged_environment(const std::vector<std::string>& overrides,
                                            const std::vector<std::string>& remove = {});

// NULL-terminated char* arrays over strings it owns: argv and envp for posix_spawn.
class CStringArray {
 public:
  explicit CStringArray(std::vector<std::string> strings) : strings_(std::move(strings)) {
    for (auto& s : strings_) pointers_.push_back(s.data());
    pointers_.push_back(nullptr);
  }
  CStringArray(const CStringArray&) = delete;
  CStringArray& operator=(const CStringArray&) = delete;
  char* const* get() const { return pointers_.data(); }

 private:
  std::vector<std::string> strings_;
  std::vector<char*> pointers_;
};

// posix_spawn attributes giving the child SIGPIPE's default action even when this test
// process ignores it (tests that are TLS clients do): a spawned program must be tested with
// its own handling.
class SpawnDefaultSigpipe {
 public:
  SpawnDefaultSigpipe();
  ~SpawnDefaultSigpipe();
  SpawnDefaultSigpipe(const SpawnDefaultSigpipe&) = delete;
  SpawnDefaultSigpipe& operator=(const SpawnDefaultSigpipe&) = delete;
  const posix_spawnattr_t* get() const { return &attr_; }

 private:
  posix_spawnattr_t attr_;
};

class RawLedger {
 public:
  // Opens `path`; with `create`, first creates it from the upstream schema.
  explicit RawLedger(const std::string& path, bool create = false);
  ~RawLedger();
  RawLedger(const RawLedger&) = delete;
  RawLedger& operator=(const RawLedger&) = delete;

  void exec(const std::string& sql);
  // First column of the first row as text ("" for NULL / no row).
  std::string text(const std::string& sql);
  std::int64_t integer(const std::string& sql);
  // All rows, each cell rendered as text ("NULL" for NULL), cells joined by '|'.
  std::vector<std::string> rows(const std::string& sql);

  // Inserts with SQL-literal arguments (strings must be quoted by the caller with q()).
  void metrics(const std::string& agent, std::int64_t tier, std::int64_t runs,
               std::int64_t consecutive, std::int64_t total = 0);
  void action(const std::string& agent, const std::string& timestamp, const std::string& action,
              const std::string& decision, std::optional<int> success);
  void violation(const std::string& agent, const std::string& timestamp);

  sqlite3* handle() { return db_; }

 private:
  sqlite3* db_ = nullptr;
};

// Runs `sql` on `db` and returns SQLite's result code instead of throwing: for a statement the
// test expects SQLite to refuse (SQLITE_BUSY), or whose refusal it records.
int try_exec(sqlite3* db, const std::string& sql);

// 'text' as an SQL string literal.
std::string q(const std::string& text);

// The isoformat (Python shape) of now + offset.
std::string iso_at(std::chrono::system_clock::time_point now, std::chrono::seconds offset);

}  // namespace ps::testing
