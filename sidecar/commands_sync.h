// Running the Vault sync commands (sync, reconcile, status, demote) and the outbox hook the
// promote command passes to the ledger. Called from sidecar/commands.cpp's dispatch.
#pragma once

#include <string>

#include "engine/ledger.h"
#include "engine/status.h"
#include "engine/timestamp.h"
#include "sidecar/commands.h"  // CliEnvironment, exit statuses
#include "sidecar/cli_sync.h"
#include "sidecar/config.h"

namespace ps::sidecar {

struct SyncContext {
  const CliEnvironment& env;
  const Config& config;
  std::string db_path;
  engine::WallTime now;  // --now or the clock: the time of a demotion
};

int run_sync_command(const SyncContext& ctx, const SyncCommand& cmd);
int run_sync_command(const SyncContext& ctx, const ReconcileCommand& cmd);
int run_sync_command(const SyncContext& ctx, const StatusCommand& cmd);
int run_sync_command(const SyncContext& ctx, const DemoteCommand& cmd);

// The TierChangeHook that writes the outbox row (roles from the config; the test-only crash
// points from PS_TEST_CRASH_AT). invalid_argument when the roles section is unusable.
engine::Result<engine::TierChangeHook> cli_outbox_hook(const Config& config,
                                                       const CliEnvironment& env);

}  // namespace ps::sidecar
