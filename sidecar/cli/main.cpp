// policy-sidecar: the one place that builds the real world (clock, environment, terminal,
// standard streams) and hands it to the CLI.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <csignal>
#include <iostream>
#include <string_view>
#include <vector>

#include "sidecar/cli/commands.h"
#include "sidecar/cli/process_hardening.h"
#include "engine/base/clock.h"

namespace {

// A regular file or /dev/null never makes a writer wait for a reader.
bool stdout_cannot_stall() {
  struct stat out {}, null {};
  if (::fstat(STDOUT_FILENO, &out) != 0) return false;
  if (S_ISREG(out.st_mode)) return true;
  return S_ISCHR(out.st_mode) && ::stat("/dev/null", &null) == 0 && out.st_rdev == null.st_rdev;
}

}  // namespace

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  // A peer that hangs up (Vault's connection cut by the request deadline, a closed stdout)
  // must be an error to handle, never a signal that kills the process mid-transaction.
  std::signal(SIGPIPE, SIG_IGN);
  // VAULT_TOKEN is read once and leaves the environment before anything else runs: no child
  // process and no reader of /proc/<pid>/environ sees it; the configuration (and every
  // SIGHUP reload of serve) reads the kept copy.
  const std::optional<std::string> vault_token =
      ps::sidecar::take_environment_secret("VAULT_TOKEN");
  ps::RealClock clock;
  std::vector<std::string_view> args(argv + 1, argv + argc);
  const ps::sidecar::CliEnvironment env{
      std::cout, std::cerr, clock,
      [&vault_token](std::string_view name) -> std::optional<std::string> {
        if (name == "VAULT_TOKEN") return vault_token;
        const char* v = std::getenv(std::string(name).c_str());
        if (!v) return std::nullopt;
        return std::string(v);
      },
      ::isatty(STDERR_FILENO) == 1, stdout_cannot_stall()};
  const int status = ps::sidecar::run_cli(args, env);
  std::cout.flush();
  if (!std::cout) {
    std::cerr << "policy-sidecar: cannot write the output (stdout closed or full)\n";
    return ps::sidecar::kExitFailed;
  }
  return status;
}
