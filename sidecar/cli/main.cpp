// policy-sidecar: the one place that builds the real world (clock, environment, terminal,
// standard streams) and hands it to the CLI.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <string_view>
#include <vector>

#include "sidecar/cli/commands.h"
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
  ps::RealClock clock;
  std::vector<std::string_view> args(argv + 1, argv + argc);
  const ps::sidecar::CliEnvironment env{
      std::cout, std::cerr, clock,
      [](std::string_view name) -> std::optional<std::string> {
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
