// The real policy-sidecar binary: errors are one line on stderr with a non-zero status (never
// library text), nothing is created by accident, progress appears only on a terminal.
#include <fcntl.h>
#include <pty.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <fstream>

#include "engine/rules/timestamp.h"
#include "tests/support/ledger_gen.h"
#include "tests/support/test_support.h"

using namespace ps::testing;

namespace {

const char* kNow = "2026-11-25T10:15:30.123456+00:00";

std::size_t lines(const std::string& s) { return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n')); }

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

void expect_one_line_failure(const ProcessResult& r, int code, const std::string& starts_with) {
  BOOST_TEST(r.exit_code == code);
  BOOST_TEST(r.out.empty());
  BOOST_TEST(lines(r.err) == 1u, r.err);
  BOOST_TEST(r.err.find(starts_with) == 0u, r.err);
}

// Runs the binary with stderr on a pseudo-terminal (stdout to /dev/null); returns what the
// terminal received.
std::string run_on_terminal(const std::vector<std::string>& argv) {
  int master = -1;
  const pid_t pid = ::forkpty(&master, nullptr, nullptr, nullptr);
  BOOST_REQUIRE(pid >= 0);
  if (pid == 0) {
    const int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, STDOUT_FILENO);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  std::string seen;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(master, buf, sizeof buf);
    if (n <= 0) break;  // EIO once the child has exited and closed the terminal
    seen.append(buf, static_cast<std::size_t>(n));
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::close(master);
  BOOST_TEST(WIFEXITED(status));
  BOOST_TEST(WEXITSTATUS(status) == 0);
  return seen;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(cli_process)

BOOST_AUTO_TEST_CASE(missing_ledger_is_one_line_and_no_file_is_created) {
  TempDir dir;
  const std::string db = dir.file("typo.db");
  for (const char* cmd : {"eligible", "history", "migrate"}) {
    expect_one_line_failure(run_process({sidecar_binary(), "--db", db, cmd}), 1,
                            "policy-sidecar: ledger not found: " + db);
  }
  expect_one_line_failure(run_process({sidecar_binary(), "--db", db, "promote", "a", "--approved-by", "x"}),
                          1, "policy-sidecar: ledger not found");
  BOOST_TEST(!exists(db));
}

BOOST_AUTO_TEST_CASE(non_ledger_files_are_one_line) {
  TempDir dir;
  std::ofstream(dir.file("x.db")) << std::string(4096, 'x');
  expect_one_line_failure(run_process({sidecar_binary(), "--db", dir.file("x.db"), "eligible"}), 1,
                          "policy-sidecar: not a governance ledger: " + dir.file("x.db") +
                              " is not a SQLite database");
  { RawLedger empty(dir.file("empty.db"), true); empty.exec("DROP TABLE agent_metrics"); }
  expect_one_line_failure(run_process({sidecar_binary(), "--db", dir.file("empty.db"), "evaluate", "a"}), 1,
                          "policy-sidecar: not a governance ledger");
}

BOOST_AUTO_TEST_CASE(unknown_command_and_bad_flags_are_usage_errors) {
  expect_one_line_failure(run_process({sidecar_binary(), "frobnicate"}), 2,
                          "policy-sidecar: unknown command 'frobnicate'");
  expect_one_line_failure(run_process({sidecar_binary(), "eligible", "--verbose"}), 2,
                          "policy-sidecar: unrecognized option '--verbose'");
  expect_one_line_failure(run_process({sidecar_binary(), "history", "--limit", "many"}), 2,
                          "policy-sidecar: argument --limit: invalid int value: 'many'");
  expect_one_line_failure(run_process({sidecar_binary()}), 2, "policy-sidecar: missing command");
  const auto help = run_process({sidecar_binary(), "--help"});
  BOOST_TEST(help.exit_code == 0);
  BOOST_TEST(help.out.find("usage: policy-sidecar") == 0u);
}

BOOST_AUTO_TEST_CASE(ledger_path_can_come_from_the_environment) {
  TempDir dir;
  { RawLedger raw(dir.file("l.db"), true); raw.metrics("a", 4, 1, 1); }
  const auto r = run_process({sidecar_binary(), "--now", kNow, "evaluate", "a"},
                             {"POLICY_SIDECAR_DB=" + dir.file("l.db")});
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST(r.out.find("Recommendation: Agent is at Tier 4 (maximum)") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(unwritable_stdout_is_reported) {
  TempDir dir;
  { RawLedger raw(dir.file("l.db"), true); raw.metrics("a", 4, 1, 1); }
  const auto r = run_process({"/bin/sh", "-c", "exec \"$0\" --db \"$1\" history > /dev/full",
                              sidecar_binary(), dir.file("l.db")});
  BOOST_TEST(r.exit_code == 1);
  BOOST_TEST(r.err == "policy-sidecar: cannot write the output (stdout closed or full)\n");
}

BOOST_AUTO_TEST_CASE(eligible_shows_progress_on_a_terminal_and_nothing_otherwise) {
  TempDir dir;
  GenOptions o;
  o.out = dir.file("big.db");
  o.schema_path = upstream_schema_path();
  o.agents = 12000;
  o.actions = 80000;
  o.now = *ps::engine::parse_iso8601(kNow);
  generate_ledger(o);
  const auto piped = run_process({sidecar_binary(), "--db", o.out, "--now", kNow, "eligible", "--json"});
  BOOST_TEST(piped.exit_code == 0);
  BOOST_TEST(piped.err.empty());
  const std::string terminal =
      run_on_terminal({sidecar_binary(), "--db", o.out, "--now", kNow, "eligible", "--json"});
  BOOST_TEST(terminal.find("eligible: ") != std::string::npos, terminal);
  BOOST_TEST(terminal.find("\r\x1b[K") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
