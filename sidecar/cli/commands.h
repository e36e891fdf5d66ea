// The CLI: parses arguments, builds what each command needs from the injected environment,
// runs it, and turns every outcome into output and an exit status. Nothing here reads the
// real clock, the process environment or the terminal: sidecar/main.cpp passes them in.
#pragma once

#include <functional>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>

#include "engine/base/clock.h"

namespace ps::sidecar {

// Exit statuses (documented in --help and README).
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;      // ledger unusable, promotion refused, invalid data
inline constexpr int kExitUsage = 2;       // the reference's commands: bad arguments or config
inline constexpr int kExitPartial = 3;     // eligible: listed, but some agents were skipped
// The sidecar's own commands (sync, reconcile, status, demote, migrate, check, serve,
// revoke-scan, freeze, unfreeze) use sysexits(3) codes for these, never 2:
inline constexpr int kExitUsageError = 64;  // EX_USAGE: bad arguments
inline constexpr int kExitConfig = 78;      // EX_CONFIG: the configuration is unusable
// reconcile --detailed-exitcode: 2 means differences found (like terraform plan).
inline constexpr int kExitDifferences = 2;

// True for the sidecar's own commands (the sysexits codes above apply to them).
bool is_sidecar_command(std::string_view name);

inline constexpr const char* kDefaultLedgerPath = "/opt/agent-governance/ledger/governance.db";

struct CliEnvironment {
  std::ostream& out;
  std::ostream& err;
  Clock& clock;  // waits (sync --wait, rate limits) sleep through it
  // The process environment (POLICY_SIDECAR_DB).
  std::function<std::optional<std::string>(std::string_view name)> getenv;
  bool err_is_tty = false;  // progress lines only on a terminal
  // stdout is a regular file or /dev/null: writing to it cannot stall on a slow reader, so
  // long listings need not be spooled until the ledger's read lock is released.
  bool out_cannot_stall = false;
  // Randomness for backoff jitter (sync, reconcile); empty = a seeded real source.
  RandomSource random = {};
};

// Runs `policy-sidecar ARGS...` (args excludes argv[0]) and returns the exit status.
// Errors are one line on env.err starting "policy-sidecar: ".
int run_cli(std::span<const std::string_view> args, const CliEnvironment& env);

}  // namespace ps::sidecar
