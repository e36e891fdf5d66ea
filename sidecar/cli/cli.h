// The command line: the reference engine's commands and flags (argparse semantics: options
// before or after positionals, --opt=value, unambiguous prefixes of long options), plus the
// sidecar's global options --db, --config, --now, and `migrate`.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "engine/base/status.h"
#include "sidecar/cli/cli_sync.h"  // sync, reconcile, status, demote

namespace ps::sidecar {

struct GlobalOptions {
  std::optional<std::string> db;
  std::optional<std::string> config;
  std::optional<std::string> now;
};

struct EvaluateCommand {
  std::string agent_id;
  bool json = false;
};
struct PromoteCommand {
  std::string agent_id;
  std::string approved_by;
  std::optional<std::string> rationale;
  std::optional<std::int64_t> from_tier;  // promote only if the agent is still at this tier
};
struct EligibleCommand {
  bool json = false;
};
struct HistoryCommand {
  std::optional<std::string> agent_id;
  std::int64_t limit = 20;  // negative: no limit (SQLite's LIMIT semantics, as the reference)
  bool json = false;
};
struct RequirementsCommand {
  std::optional<std::int64_t> tier;
};
struct MigrateCommand {};
struct ServeCommand {};  // run by sidecar/cli/commands_serve.cpp
struct HelpCommand {
  std::string text;  // printed on stdout, exit 0
};

using Command = std::variant<EvaluateCommand, PromoteCommand, EligibleCommand, HistoryCommand,
                             RequirementsCommand, MigrateCommand, HelpCommand, SyncCommand,
                             ReconcileCommand, StatusCommand, DemoteCommand, ServeCommand,
                             RevokeScanCommand, FreezeCommand, UnfreezeCommand, CheckCommand>;

struct Invocation {
  GlobalOptions global;
  Command command;
};

// Parses argv[1..]. Errors are invalid_argument with a one-line message (no "usage:" block).
Result<Invocation> parse_command_line(std::span<const std::string_view> args);

// The top-level --help text.
std::string main_help();

}  // namespace ps::sidecar
