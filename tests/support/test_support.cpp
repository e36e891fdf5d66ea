#include "tests/support/test_support.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

#include "engine/rules/timestamp.h"

extern char** environ;

namespace ps::testing {

std::string env_or_throw(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) throw std::runtime_error(std::string("environment variable ") + name + " not set (run through ctest)");
  return v;
}

std::string upstream_schema_path() { return env_or_throw("PS_UPSTREAM_SCHEMA"); }
std::string reference_engine_path() { return env_or_throw("PS_REFERENCE_ENGINE"); }
std::string system_python() { return env_or_throw("PS_SYSTEM_PYTHON"); }
std::string build_dir() { return env_or_throw("PS_BUILD_DIR"); }
std::string repo_root() { return env_or_throw("PS_REPO_ROOT"); }
std::string sidecar_binary() { return build_dir() + "/sidecar/policy-sidecar"; }
std::string gen_ledger_binary() { return build_dir() + "/tests/support/ps-gen-ledger"; }
std::string reference_harness() { return repo_root() + "/tests/support/reference_harness.py"; }

Process::Process(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err[1], 2);

  const CStringArray envp(merged_environment(env));
  const CStringArray args(argv);

  const SpawnDefaultSigpipe attr;
  const int rc = ::posix_spawnp(&pid_, args.get()[0], &fa, attr.get(), args.get(), envp.get());
  posix_spawn_file_actions_destroy(&fa);
  ::close(out[1]);
  ::close(err[1]);
  out_fd_ = out[0];
  err_fd_ = err[0];
  if (rc != 0) {
    ::close(out_fd_);
    ::close(err_fd_);
    throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(rc));
  }
}

Process::Process(Process&& o) noexcept : pid_(o.pid_), out_fd_(o.out_fd_), err_fd_(o.err_fd_) {
  o.pid_ = o.out_fd_ = o.err_fd_ = -1;
}

Process::~Process() {
  if (pid_ > 0) (void)wait();
}

ProcessResult Process::wait() {
  ProcessResult r;
  pollfd fds[2] = {{out_fd_, POLLIN, 0}, {err_fd_, POLLIN, 0}};
  std::string* sinks[2] = {&r.out, &r.err};
  int open_fds = 2;
  char buf[65536];
  while (open_fds > 0) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        sinks[i]->append(buf, static_cast<std::size_t>(n));
      } else {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  out_fd_ = err_fd_ = -1;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

ProcessResult run_process(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
  return Process(argv, env).wait();
}

std::vector<std::string> merged_environment(const std::vector<std::string>& overrides,
                                            const std::vector<std::string>& remove) {
  std::map<std::string, std::string> vars;
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    const auto eq = kv.find('=');
    vars[kv.substr(0, eq)] = eq == std::string::npos ? "" : kv.substr(eq + 1);
  }
  for (const std::string& name : remove) vars.erase(name);
  for (const std::string& kv : overrides) {
    const auto eq = kv.find('=');
    vars[kv.substr(0, eq)] = eq == std::string::npos ? "" : kv.substr(eq + 1);
  }
  std::vector<std::string> out;
  for (const auto& [k, v] : vars) out.push_back(k + "=" + v);
  return out;
}

SpawnDefaultSigpipe::SpawnDefaultSigpipe() {
  posix_spawnattr_init(&attr_);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigdefault(&attr_, &defaults);
  posix_spawnattr_setflags(&attr_, POSIX_SPAWN_SETSIGDEF);
}

SpawnDefaultSigpipe::~SpawnDefaultSigpipe() { posix_spawnattr_destroy(&attr_); }

RawLedger::RawLedger(const std::string& path, bool create) {
  const int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
  if (sqlite3_open_v2(path.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
    throw std::runtime_error("cannot open " + path);
  }
  sqlite3_busy_timeout(db_, 10000);
  if (create) {
    std::ifstream in(upstream_schema_path());
    std::ostringstream schema;
    schema << in.rdbuf();
    exec(schema.str());
  }
}

RawLedger::~RawLedger() { sqlite3_close(db_); }

int try_exec(sqlite3* db, const std::string& sql) {
  return sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr);
}

void RawLedger::exec(const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "?";
    sqlite3_free(err);
    throw std::runtime_error("sql failed: " + msg + " in: " + sql);
  }
}

std::vector<std::string> RawLedger::rows(const std::string& sql) {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr) != SQLITE_OK) {
    throw std::runtime_error(std::string("prepare failed: ") + sqlite3_errmsg(db_) + " in: " + sql);
  }
  std::vector<std::string> out;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    std::string row;
    for (int i = 0; i < sqlite3_column_count(s); ++i) {
      if (i) row += '|';
      const auto* t = sqlite3_column_text(s, i);
      row += sqlite3_column_type(s, i) == SQLITE_NULL ? "NULL" : reinterpret_cast<const char*>(t);
    }
    out.push_back(row);
  }
  sqlite3_finalize(s);
  if (rc != SQLITE_DONE) throw std::runtime_error(std::string("step failed: ") + sqlite3_errmsg(db_));
  return out;
}

std::string RawLedger::text(const std::string& sql) {
  auto r = rows(sql);
  if (r.empty() || r[0] == "NULL") return "";
  return r[0].substr(0, r[0].find('|'));
}

std::int64_t RawLedger::integer(const std::string& sql) { return std::stoll(text(sql)); }

void RawLedger::metrics(const std::string& agent, std::int64_t tier, std::int64_t runs,
                        std::int64_t consecutive, std::int64_t total) {
  exec("INSERT INTO agent_metrics (agent_id, current_tier, compliant_runs, consecutive_compliant, "
       "total_runs) VALUES (" + q(agent) + ", " + std::to_string(tier) + ", " + std::to_string(runs) +
       ", " + std::to_string(consecutive) + ", " + std::to_string(total) + ")");
}

void RawLedger::action(const std::string& agent, const std::string& timestamp,
                       const std::string& action, const std::string& decision,
                       std::optional<int> success) {
  exec("INSERT INTO agent_actions (timestamp, agent_id, action, decision, success) VALUES (" +
       q(timestamp) + ", " + q(agent) + ", " + q(action) + ", " + q(decision) + ", " +
       (success ? std::to_string(*success) : std::string("NULL")) + ")");
}

void RawLedger::violation(const std::string& agent, const std::string& timestamp) {
  exec("INSERT INTO violations (timestamp, agent_id, violation_type) VALUES (" + q(timestamp) +
       ", " + q(agent) + ", 'scope_exceeded')");
}

std::string q(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    out += c;
    if (c == '\'') out += '\'';
  }
  return out + "'";
}

std::string iso_at(std::chrono::system_clock::time_point now, std::chrono::seconds offset) {
  return engine::format_isoformat_utc(now + offset);
}

}  // namespace ps::testing
