#include "sidecar/cli/commands.h"

#include <memory>
#include <vector>

#include "engine/ledger/ledger.h"
#include "engine/rules/timestamp.h"
#include "sidecar/cli/cli.h"
#include "sidecar/cli/cli_common.h"
#include "sidecar/cli/commands_serve.h"
#include "sidecar/cli/commands_sync.h"
#include "sidecar/config/config.h"
#include "sidecar/cli/output.h"
#include "sidecar/cli/progress.h"
#include "sidecar/cli/spool.h"
#include "sidecar/cli/tier_changes.h"

namespace ps::sidecar {
namespace {


// At most this many skipped agents are named on stderr; the rest are counted.
constexpr std::size_t kMaxProblemLines = 20;

struct Context {
  const CliEnvironment& env;
  Config config;
  std::string db_path;
  engine::WallTime now;
  const std::string* config_path = nullptr;  // --config FILE (serve re-reads it on SIGHUP)
  bool db_from_config = true;                // false: --db or POLICY_SIDECAR_DB chose it
};

using cli::fail;

engine::LedgerOptions ledger_options(const Context& ctx, bool read_only) {
  return cli::ledger_options(ctx.config, ctx.db_path, read_only);
}

Result<std::unique_ptr<engine::Ledger>> open_ledger(const Context& ctx, bool read_only) {
  return engine::Ledger::open(ledger_options(ctx, read_only));
}

Status prepare_for_writes(const Context& ctx, engine::Ledger& ledger,
                          std::vector<engine::AppliedMigration>* applied = nullptr) {
  return cli::migrate_for_writes(ctx.env, ledger, ctx.now, applied);
}

int run(const Context& ctx, const EvaluateCommand& cmd) {
  auto ledger = open_ledger(ctx, true);
  if (!ledger.ok()) return fail(ctx.env, ledger.status());
  auto facts = (*ledger)->agent_facts(cmd.agent_id, ctx.now);
  if (!facts.ok()) return fail(ctx.env, facts.status());
  const engine::Evaluation e = *facts ? engine::evaluate(*facts, ctx.config.rules, ctx.now)
                                      : engine::evaluate_unknown_agent(cmd.agent_id, ctx.now);
  std::string out;
  cmd.json ? evaluation_json(out, e) : evaluation_text(out, e);
  ctx.env.out << out << std::flush;
  return kExitOk;
}

int run(const Context& ctx, const PromoteCommand& cmd) {
  // The sidecar's own refusal (the reference takes any name), so EX_USAGE rather than
  // argparse's 2: only the periodic evaluation may record its reserved approver name.
  if (cmd.approved_by == TierChangeService::kAutoApprover) {
    return fail(ctx.env,
                std::string("promote: --approved-by ") + TierChangeService::kAutoApprover +
                    " is reserved for the sidecar's automatic promotions"
                    " (see policy-sidecar --help)",
                kExitUsageError);
  }
  auto ledger = open_ledger(ctx, false);
  if (!ledger.ok()) return fail(ctx.env, ledger.status());
  if (Status s = prepare_for_writes(ctx, **ledger); !s.ok()) return fail(ctx.env, s);

  // The outbox row for Vault commits in the promotion's own transaction.
  auto tier_changes = CliTierChanges::open(ctx.config, ledger_options(ctx, false), ctx.env);
  if (!tier_changes.ok()) return fail(ctx.env, tier_changes.status().message(), kExitUsage);
  TierChangeService::Promotion promotion;
  promotion.agent_id = cmd.agent_id;
  promotion.approved_by = cmd.approved_by;
  promotion.rationale = cmd.rationale;
  promotion.at = ctx.now;
  // The tier the operator is approving a step from: given, or read now (before the write
  // transaction). A concurrent promotion between this read and our transaction makes ours
  // fail instead of silently promoting a second step.
  promotion.expected_from_tier = cmd.from_tier;
  if (!promotion.expected_from_tier) {
    auto tier = (*ledger)->current_tier(cmd.agent_id);
    if (!tier.ok()) return fail(ctx.env, tier.status());
    promotion.expected_from_tier = *tier;
  }
  auto record = (*tier_changes)->service().promote(promotion);
  if (!record.ok()) {
    const Status& s = record.status();
    if (s.code() == Code::failed_precondition || s.code() == Code::aborted) {
      ctx.env.out << "[FAILED] " << s.message() << std::endl;
      return kExitFailed;
    }
    return fail(ctx.env, s);
  }
  ctx.env.out << "[OK] Promoted " << record->agent_id << " from Tier " << record->from_tier
              << " to Tier " << record->to_tier << '\n'
              << "  Recorded as promotion " << record->id << " at " << record->timestamp
              << " (approved by " << record->approved_by << ")" << std::endl;
  return kExitOk;
}

// Evaluates agent by agent as the scan streams them; the listing goes to a spool and reaches
// stdout only after the scan's read transaction has ended (see spool.h).
int run(const Context& ctx, const EligibleCommand& cmd) {
  auto ledger = open_ledger(ctx, true);
  if (!ledger.ok()) return fail(ctx.env, ledger.status());
  Spool spool;
  EligibleWriter writer(
      [&](std::string_view chunk) {
        if (ctx.env.out_cannot_stall) {
          ctx.env.out.write(chunk.data(), static_cast<std::streamsize>(chunk.size()));
        } else {
          spool.append(chunk);
        }
      },
      cmd.json);
  std::vector<engine::AgentProblem> problems;
  std::size_t evaluated = 0;
  ScanProgressDisplay display(ctx.env.err, ctx.env.err_is_tty);
  const Status scanned = (*ledger)->scan_agents(
      ctx.now,
      [&](engine::AgentScanItem&& item) {
        if (item.problem) {
          problems.push_back(std::move(*item.problem));
          return;
        }
        ++evaluated;
        const engine::Evaluation e =
            engine::evaluate(std::move(item.facts), ctx.config.rules, ctx.now);
        if (engine::is_promotable(e.status)) writer.add(e);
      },
      [&](const engine::ScanProgress& p) { display.update(p); });
  display.finish();
  if (!scanned.ok()) return fail(ctx.env, scanned);
  writer.end();
  if (!spool.copy_to(ctx.env.out)) {
    return fail(ctx.env, "cannot read back the spooled output (temporary file)");
  }

  if (problems.empty()) return kExitOk;
  for (std::size_t i = 0; i < problems.size() && i < kMaxProblemLines; ++i) {
    ctx.env.err << "policy-sidecar: skipped: invalid ledger data: " << problems[i].message << '\n';
  }
  if (problems.size() > kMaxProblemLines) {
    ctx.env.err << "policy-sidecar: skipped " << problems.size() - kMaxProblemLines
                << " more agents with invalid ledger data\n";
  }
  ctx.env.err << "policy-sidecar: " << problems.size() << " of " << problems.size() + evaluated
              << " agents skipped because of invalid ledger data; the others are listed"
              << std::endl;
  return kExitPartial;
}

int run(const Context& ctx, const HistoryCommand& cmd) {
  auto ledger = open_ledger(ctx, true);
  if (!ledger.ok()) return fail(ctx.env, ledger.status());
  // The reference filters only on a truthy agent id: --agent-id "" lists everyone.
  std::optional<std::string> agent = cmd.agent_id;
  if (agent && agent->empty()) agent.reset();
  auto history = (*ledger)->promotion_history(agent, cmd.limit);
  if (!history.ok()) return fail(ctx.env, history.status());
  std::string out;
  cmd.json ? history_json(out, *history) : history_text(out, *history);
  ctx.env.out << out << std::flush;
  return kExitOk;
}

int run(const Context& ctx, const RequirementsCommand& cmd) {
  std::string out;
  requirements_text(out, ctx.config.rules, cmd.tier);
  ctx.env.out << out << std::flush;
  return kExitOk;
}

int run(const Context& ctx, const MigrateCommand&) {
  auto ledger = open_ledger(ctx, false);
  if (!ledger.ok()) return fail(ctx.env, ledger.status());
  std::vector<engine::AppliedMigration> applied;
  if (Status s = prepare_for_writes(ctx, **ledger, &applied); !s.ok()) return fail(ctx.env, s);
  for (const auto& m : applied) {
    ctx.env.out << "Applied migration " << m.version << " (" << m.name << ")\n";
  }
  auto version = (*ledger)->schema_version();
  if (!version.ok()) return fail(ctx.env, version.status());
  ctx.env.out << (applied.empty() ? "Ledger schema is up to date (version " :
                                    "Ledger schema is now at version ")
              << *version << (applied.empty() ? ")" : "") << std::endl;
  return kExitOk;
}

// sync, reconcile, status, demote: sidecar/commands_sync.cpp.
template <class Cmd>
  requires(std::is_same_v<Cmd, SyncCommand> || std::is_same_v<Cmd, ReconcileCommand> ||
           std::is_same_v<Cmd, StatusCommand> || std::is_same_v<Cmd, DemoteCommand> ||
           std::is_same_v<Cmd, RevokeScanCommand> || std::is_same_v<Cmd, FreezeCommand> ||
           std::is_same_v<Cmd, UnfreezeCommand> || std::is_same_v<Cmd, CheckCommand>)
int run(const Context& ctx, const Cmd& cmd) {
  return run_sync_command(SyncContext{ctx.env, ctx.config, ctx.db_path, ctx.now}, cmd);
}

// serve: sidecar/commands_serve.cpp.
int run(const Context& ctx, const ServeCommand&) {
  return run_serve_command(ServeContext{ctx.env, ctx.config, ctx.config_path, ctx.db_path,
                                        ctx.db_from_config});
}

int run(const Context& ctx, const HelpCommand& cmd) {
  ctx.env.out << cmd.text << std::flush;
  return kExitOk;
}

}  // namespace

bool is_sidecar_command(std::string_view name) {
  for (std::string_view c : {"sync", "reconcile", "status", "demote", "migrate", "check", "serve",
                             "revoke-scan", "freeze", "unfreeze"}) {
    if (name == c) return true;
  }
  return false;
}

namespace {

// The command named on the line (the first argument that is one), to pick the exit codes of
// errors found before the command runs.
bool names_sidecar_command(std::span<const std::string_view> args) {
  for (std::string_view a : args) {
    if (is_sidecar_command(a)) return true;
  }
  return false;
}

}  // namespace

int run_cli(std::span<const std::string_view> args, const CliEnvironment& env) {
  const bool own = names_sidecar_command(args);
  const int usage_code = own ? kExitUsageError : kExitUsage;
  const int config_code = own ? kExitConfig : kExitUsage;
  auto inv = parse_command_line(args);
  if (!inv.ok()) return fail(env, inv.status().message() + " (see policy-sidecar --help)", usage_code);
  if (std::holds_alternative<HelpCommand>(inv->command)) {
    return run(Context{env, {}, {}, {}}, std::get<HelpCommand>(inv->command));
  }

  Context ctx{env, Config{}, {}, env.clock.wall_now()};
  if (inv->global.config) {
    auto config = load_config_file(*inv->global.config);
    if (!config.ok()) return fail(env, config.status().message(), config_code);
    ctx.config = std::move(config).value();
    ctx.config_path = &*inv->global.config;
  }
  if (inv->global.now) {
    auto now = engine::parse_iso8601(*inv->global.now);
    if (!now) {
      return fail(env, "--now: '" + *inv->global.now +
                           "' is not an ISO-8601 time (e.g. 2026-11-25T10:15:30Z)",
                  usage_code);
    }
    ctx.now = *now;
  }
  if (inv->global.db) {
    ctx.db_path = *inv->global.db;
    ctx.db_from_config = false;
  } else if (auto from_env = env.getenv("POLICY_SIDECAR_DB"); from_env && !from_env->empty()) {
    ctx.db_path = *from_env;
    ctx.db_from_config = false;
  } else if (ctx.config.ledger.path) {
    ctx.db_path = *ctx.config.ledger.path;
  } else {
    ctx.db_path = kDefaultLedgerPath;
  }
  return std::visit([&](const auto& cmd) { return run(ctx, cmd); }, inv->command);
}

}  // namespace ps::sidecar
