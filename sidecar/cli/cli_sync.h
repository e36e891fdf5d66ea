// The Vault sync commands of the command line: sync, reconcile, status, demote.
// Parsed by sidecar/cli/cli.cpp through parse_sync_command(); run by
// sidecar/cli/commands_sync.cpp.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "engine/base/status.h"

namespace ps::sidecar {

struct SyncCommand {
  // Keep retrying (following the backoff) for up to this many seconds while something is
  // still pending; 0 = one pass.
  double wait_s = 0;
};
struct ReconcileCommand {
  bool dry_run = false;
  bool detailed_exitcode = false;
};
struct StatusCommand {
  std::optional<std::string> agent_id;
  bool json = false;
};
struct DemoteCommand {
  std::string agent_id;
  std::int64_t to_tier = 0;
  std::string reason;
  std::optional<std::string> by;           // default: $USER, else "operator"
  std::optional<std::int64_t> from_tier;   // demote only if still at this tier
};

// Violations to demotions once (cron; the push is left to `sync`). --from-id replays on purpose.
struct RevokeScanCommand {
  std::optional<std::int64_t> from_id;
};
// The kill switch: every agent to tier 0 now; promotions refused until `unfreeze`.
struct FreezeCommand {
  std::string reason;
  std::optional<std::string> by;  // default: $USER, else "operator"
};
struct UnfreezeCommand {
  std::optional<std::string> by;
};

// The preflight (sidecar/cli/preflight.h); --policy prints the least-privilege Vault policy.
struct CheckCommand {
  bool offline = false;
  bool json = false;
  bool policy = false;
};

using SyncCliCommand = std::variant<SyncCommand, ReconcileCommand, StatusCommand, DemoteCommand,
                                    RevokeScanCommand, FreezeCommand, UnfreezeCommand,
                                    CheckCommand>;

// The command table entries (name, options, positionals, usage, help), in cli.cpp's shape.
struct SyncCommandSpec {
  std::string_view name;
  std::vector<std::pair<std::string_view, bool>> options;  // "--opt", takes a value
  int positionals;
  std::string_view usage;
  std::string_view help;
};
const std::vector<SyncCommandSpec>& sync_command_specs();

// Builds the command `name` from its parsed arguments; nullopt when `name` is not one of
// them. `find` returns the last value given for an option (nullptr when absent).
using OptionFinder = std::function<const std::string*(std::string_view name)>;
std::optional<Result<SyncCliCommand>> parse_sync_command(
    std::string_view name, const std::vector<std::string>& positionals, const OptionFinder& find);

}  // namespace ps::sidecar
