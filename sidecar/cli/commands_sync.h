// Running the Vault sync commands (sync, reconcile, status, demote). Called from
// sidecar/cli/commands.cpp's dispatch.
#pragma once

#include <string>

#include "engine/ledger/ledger.h"
#include "engine/base/status.h"
#include "engine/rules/timestamp.h"
#include "sidecar/cli/commands.h"  // CliEnvironment, exit statuses
#include "sidecar/cli/cli_sync.h"
#include "sidecar/config/config.h"

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
int run_sync_command(const SyncContext& ctx, const RevokeScanCommand& cmd);
int run_sync_command(const SyncContext& ctx, const FreezeCommand& cmd);
int run_sync_command(const SyncContext& ctx, const UnfreezeCommand& cmd);
int run_sync_command(const SyncContext& ctx, const CheckCommand& cmd);

}  // namespace ps::sidecar
