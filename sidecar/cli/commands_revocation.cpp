// revoke-scan, freeze, unfreeze: the revocation commands (through the tier-change service, like
// promote and demote; the push to Vault is left to `sync` or the daemon).
#include "sidecar/cli/cli_common.h"
#include "sidecar/cli/commands_sync.h"
#include "sidecar/cli/tier_changes.h"

namespace ps::sidecar {
namespace {

using cli::fail;

// The service on a migrated ledger, or the exit status (usage for config errors).
Result<std::unique_ptr<CliTierChanges>> open_service(const SyncContext& ctx, int* rc) {
  const auto options = cli::ledger_options(ctx.config, ctx.db_path, false);
  auto tier_changes = CliTierChanges::open(ctx.config, options, ctx.env);
  if (!tier_changes.ok()) {
    *rc = fail(ctx.env, tier_changes.status().message(), kExitConfig);
    return tier_changes.status();
  }
  if (Status s = cli::open_and_migrate(ctx.env, options, ctx.now); !s.ok()) {
    *rc = fail(ctx.env, s);
    return s;
  }
  return tier_changes;
}

// Refusals ([FAILED] on stdout, exit 1) apart from errors (stderr, exit 1).
int refused_or_failed(const SyncContext& ctx, const Status& s) {
  if (s.code() == Code::failed_precondition || s.code() == Code::aborted) {
    ctx.env.out << "[FAILED] " << s.message() << std::endl;
    return kExitFailed;
  }
  return fail(ctx.env, s);
}

}  // namespace

int run_sync_command(const SyncContext& ctx, const RevokeScanCommand& cmd) {
  int rc = kExitFailed;
  auto service = open_service(ctx, &rc);
  if (!service.ok()) return rc;
  auto pass = (*service)->service().scan_violations(cmd.from_id, "policy-sidecar revoke-scan");
  if (!pass.ok()) return refused_or_failed(ctx, pass.status());
  const auto& p = *pass;
  ctx.env.out << "Violations handled: " << p.handled << " (" << p.demoted << " demoted, "
              << p.revoked_in_place << " revoked at or below the target tier, " << p.no_action
              << " no action, " << p.invalid_severity << " invalid severity, " << p.unknown_agent
              << " unknown agent, " << p.invalid_agent_data << " invalid agent data)\n";
  if (p.below_mark > 0) {
    ctx.env.out << "Found below the mark (inserted late with an explicit id): " << p.below_mark
                << '\n';
  }
  ctx.env.out << "Mark: violation " << p.mark << '\n';
  if (p.demoted + p.revoked_in_place > 0) {
    ctx.env.out << "Vault: queued for the next sync (policy-sidecar sync)\n";
  }
  ctx.env.out << std::flush;
  return kExitOk;
}

int run_sync_command(const SyncContext& ctx, const FreezeCommand& cmd) {
  int rc = kExitFailed;
  auto service = open_service(ctx, &rc);
  if (!service.ok()) return rc;
  auto result = (*service)->service().freeze(cmd.reason, cli::actor(ctx.env, cmd.by),
                                             ChangeSource::cli);
  if (!result.ok()) return refused_or_failed(ctx, result.status());
  ctx.env.out << "[OK] Frozen: " << result->agents << " agents at Tier 0 (" << result->demoted
              << " demoted); promotions refused until `policy-sidecar unfreeze`\n";
  for (const auto& problem : result->invalid) {
    ctx.env.err << "policy-sidecar: skipped: invalid ledger data: " << problem << '\n';
  }
  ctx.env.out << "  Vault: queued for the next sync (policy-sidecar sync)" << std::endl;
  return kExitOk;
}

int run_sync_command(const SyncContext& ctx, const UnfreezeCommand& cmd) {
  int rc = kExitFailed;
  auto service = open_service(ctx, &rc);
  if (!service.ok()) return rc;
  if (Status s = (*service)->service().unfreeze(cli::actor(ctx.env, cmd.by), ChangeSource::cli);
      !s.ok()) {
    return refused_or_failed(ctx, s);
  }
  ctx.env.out << "[OK] Unfrozen: promotions follow the rules again (cooldowns keep running)"
              << std::endl;
  return kExitOk;
}

}  // namespace ps::sidecar
