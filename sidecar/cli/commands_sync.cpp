#include "sidecar/cli/commands_sync.h"

#include <thread>

#include <algorithm>
#include <cmath>
#include <memory>
#include <sstream>

#include <nlohmann/json.hpp>

#include "engine/ledger/outbox.h"
#include "engine/ledger/revocation_steps.h"
#include "sidecar/config/log.h"
#include "sidecar/sync/checkpoint.h"
#include "sidecar/sync/desired_state.h"
#include "sidecar/sync/outbox_json.h"
#include "sidecar/cli/cli_common.h"
#include "sidecar/cli/tier_changes.h"
#include "sidecar/sync/reconciler.h"
#include "sidecar/sync/sync_worker.h"
#include "sidecar/config/vault_setup.h"

namespace ps::sidecar {
namespace {

using ojson = nlohmann::ordered_json;

using cli::fail;

RandomSource random_of(const CliEnvironment& env) {
  return env.random ? env.random : make_real_random();
}

vault::EnvGetter env_getter(const CliEnvironment& env) {
  return [&env](const char* name) { return env.getenv(name); };
}

std::string join(const PolicyList& list) {
  std::string out;
  for (const auto& p : list) out += (out.empty() ? "" : ",") + p;
  return out;
}

std::string iso(engine::WallTime t) { return engine::format_isoformat_utc(t); }

// The CLI's logger: the commands print their own summary (parked rows, drift, Vault errors),
// so only errors are logged unless the config asks for debug.
std::unique_ptr<Logger> make_logger(const SyncContext& ctx) {
  const LogLevel level =
      ctx.config.log.level == LogLevel::debug ? LogLevel::debug : LogLevel::error;
  std::ostream& err = ctx.env.err;
  return std::make_unique<Logger>([&err](std::string_view line) { err << line << '\n'; },
                                  ctx.env.clock, level, ctx.config.log.format);
}

Result<std::shared_ptr<const DesiredState>> desired_state(const Config& config) {
  return DesiredState::create(config.roles, config.vault.mount);
}

engine::LedgerOptions ledger_options(const SyncContext& ctx, bool read_only = false) {
  return cli::ledger_options(ctx.config, ctx.db_path, read_only);
}

OutboxFactory outbox_factory(const SyncContext& ctx) {
  return [options = ledger_options(ctx)] { return engine::Outbox::open(options); };
}

StepsFactory steps_factory(const SyncContext& ctx) {
  return [options = ledger_options(ctx)] { return engine::RevocationSteps::open(options); };
}

// Write commands bring the schema up to date first.
Status open_and_migrate(const SyncContext& ctx) {
  return cli::open_and_migrate(ctx.env, ledger_options(ctx), ctx.now);
}

struct VaultParts {
  std::shared_ptr<const DesiredState> desired;
  std::unique_ptr<Logger> log;
  std::shared_ptr<VaultSetup> vault;
};

// Config problems are usage errors (exit 2), as for every other command.
int open_vault_parts(const SyncContext& ctx, VaultParts& parts) {
  auto desired = desired_state(ctx.config);
  if (!desired.ok()) return fail(ctx.env, desired.status().message(), kExitConfig);
  parts.desired = *desired;
  auto cfg = effective_vault_config(ctx.config.vault, env_getter(ctx.env));
  if (!cfg.ok()) return fail(ctx.env, cfg.status().message(), kExitConfig);
  parts.log = make_logger(ctx);
  auto vault = VaultSetup::open(*cfg, ctx.env.clock, random_of(ctx.env), *parts.log);
  if (!vault.ok()) return fail(ctx.env, vault.status().message(), kExitConfig);
  parts.vault = *vault;
  return kExitOk;
}

void print_failed(std::ostream& out, const std::vector<engine::OutboxRow>& rows) {
  for (const auto& r : rows) {
    out << "  " << r.agent_id << " (role " << r.role.value_or("-") << ", tier " << r.tier
        << ", generation " << r.generation << "): " << r.error_code.value_or("error") << ": "
        << r.last_error.value_or("") << '\n';
  }
}

}  // namespace

namespace {

using Workers = std::vector<std::unique_ptr<SyncWorker>>;

// One pass of every worker, side by side (each drains its own partition of the agents).
Result<PassStats> run_workers_once(const Workers& workers) {
  std::vector<Result<PassStats>> results(workers.size(), Status(Code::internal, "not run"));
  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < workers.size(); ++i) {
    threads.emplace_back([&, i] { results[i] = workers[i]->run_once(); });
  }
  results[0] = workers[0]->run_once();
  for (auto& t : threads) t.join();
  PassStats total;
  for (auto& r : results) {
    if (!r.ok()) return r.status();
    total.synced += r->synced;
    total.retried += r->retried;
    total.parked += r->parked;
    total.superseded += r->superseded;
    total.steps_done += r->steps_done;
  }
  return total;
}

struct SyncRun {
  PassStats total;
  engine::OutboxStats outbox;
  engine::StepStats steps;
  bool done() const { return outbox.pending == 0 && steps.pending == 0; }
};

// How long to wait before the next pass: the end of a pause, the next due row or the poll
// interval, never past the deadline.
Clock::SteadyTime next_pass(const SyncContext& ctx, const Workers& workers,
                            engine::Outbox& outbox, Clock::SteadyTime now,
                            Clock::SteadyTime deadline) {
  Clock& clock = ctx.env.clock;
  auto until = now + ctx.config.sync.poll_interval;
  std::optional<Clock::SteadyTime> paused;
  for (const auto& w : workers) {
    if (auto p = w->health().paused_until; p && (!paused || *p < *paused)) paused = p;
  }
  if (paused) {
    until = *paused;
  } else if (auto next = outbox.next_due(); next.ok() && *next) {
    const auto wall = clock.wall_now();
    if (**next > wall) {
      until = std::min(until, now + std::chrono::duration_cast<std::chrono::milliseconds>(
                                        **next - wall));
    }
  }
  return std::min(until, deadline);
}

// Passes until nothing is pending (pushes and revocation steps) or the deadline.
Result<SyncRun> sync_until_done(const SyncContext& ctx, const Workers& workers,
                                engine::Outbox& outbox, engine::RevocationSteps* steps,
                                Clock::SteadyTime deadline) {
  Clock& clock = ctx.env.clock;
  SyncRun run;
  for (;;) {
    auto pass = run_workers_once(workers);
    if (!pass.ok()) return pass.status();
    run.total.synced += pass->synced;
    run.total.retried += pass->retried;
    run.total.parked += pass->parked;
    run.total.superseded += pass->superseded;
    run.total.steps_done += pass->steps_done;
    auto st = outbox.stats(clock.wall_now());
    if (!st.ok()) return st.status();
    run.outbox = std::move(st).value();
    if (steps) {
      auto ss = steps->stats();
      if (!ss.ok()) return ss.status();
      run.steps = std::move(ss).value();
    }
    const auto now = clock.steady_now();
    if (run.done() || now >= deadline) return run;
    // The pass took every row it could: what is left is backing off, paused, or leased to
    // another worker.
    const auto until = next_pass(ctx, workers, outbox, now, deadline);
    if (until > now) {
      clock.sleep_for(std::chrono::duration_cast<std::chrono::milliseconds>(until - now) +
                      std::chrono::milliseconds{1});
    }
  }
}

void print_sync(std::ostream& out, const SyncRun& run, const Workers& workers) {
  const auto& total = run.total;
  out << "Synced " << total.synced << " agent" << (total.synced == 1 ? "" : "s")
      << "; retries scheduled " << total.retried << "; parked " << total.parked << '\n'
      << "Outbox: " << run.outbox.synced << " synced, " << run.outbox.pending << " pending, "
      << run.outbox.failed << " failed\n";
  if (total.steps_done + run.steps.pending + run.steps.failed > 0) {
    out << "Revocation steps: " << total.steps_done << " done now; " << run.steps.pending
        << " pending, " << run.steps.failed << " failed\n";
  }
  for (const auto& w : workers) {
    if (auto h = w->health(); !h.vault_available && h.last_error) {
      out << "Vault unavailable: " << *h.last_error << '\n';
      break;
    }
  }
  if (!run.outbox.failed_rows.empty()) {
    out << "Parked (run `policy-sidecar status` for details; `reconcile` retries them):\n";
    print_failed(out, run.outbox.failed_rows);
  }
  for (const auto& step : run.steps.failed_rows) {
    out << "  revocation step " << engine::to_string(step.kind) << " for " << step.agent_id
        << ": " << step.error_code.value_or("error") << ": " << step.last_error.value_or("")
        << '\n';
  }
  out << std::flush;
}

}  // namespace

int run_sync_command(const SyncContext& ctx, const SyncCommand& cmd) {
  VaultParts parts;
  if (int rc = open_vault_parts(ctx, parts); rc != kExitOk) return rc;
  if (Status s = open_and_migrate(ctx); !s.ok()) return fail(ctx.env, s.message());
  auto outbox = engine::Outbox::open(ledger_options(ctx));
  if (!outbox.ok()) return fail(ctx.env, outbox.status().message());
  auto steps = engine::RevocationSteps::open(ledger_options(ctx));
  if (!steps.ok()) return fail(ctx.env, steps.status().message());

  Clock& clock = ctx.env.clock;
  NoSyncEvents events;
  SyncWorkerOptions options;
  options.checkpoint = crash_checkpoint(ctx.env.getenv("PS_TEST_CRASH_AT"));
  options.open_steps = steps_factory(ctx);
  Workers workers;
  const auto n = static_cast<std::uint32_t>(ctx.config.sync.workers);
  options.limiter = std::make_shared<RateLimiter>(ctx.config.sync.rate_limit_per_s, clock);
  options.pause = std::make_shared<VaultPause>();
  for (std::uint32_t i = 0; i < n; ++i) {
    options.partition = i;
    options.partitions = n;
    workers.push_back(std::make_unique<SyncWorker>(
        outbox_factory(ctx), parts.vault->single_attempt_factory(), parts.desired,
        ctx.config.sync, clock, random_of(ctx.env), *parts.log, events, options));
  }

  // "Now" for every pending row: a cron run is an attempt, whatever each row's backoff said.
  if (auto due = (*outbox)->make_all_due(clock.wall_now()); !due.ok()) {
    return fail(ctx.env, due.status().message());
  }
  const auto deadline =
      clock.steady_now() + std::chrono::milliseconds(static_cast<std::int64_t>(cmd.wait_s * 1000));
  auto run = sync_until_done(ctx, workers, **outbox, steps->get(), deadline);
  if (!run.ok()) return fail(ctx.env, run.status().message());
  print_sync(ctx.env.out, *run, workers);
  return run->done() && run->outbox.failed == 0 && run->steps.failed == 0 ? kExitOk
                                                                          : kExitFailed;
}

int run_sync_command(const SyncContext& ctx, const ReconcileCommand& cmd) {
  VaultParts parts;
  if (int rc = open_vault_parts(ctx, parts); rc != kExitOk) return rc;
  // A dry run changes nothing, not even the schema: it needs a migrated ledger.
  if (!cmd.dry_run) {
    if (Status s = open_and_migrate(ctx); !s.ok()) return fail(ctx.env, s.message());
  }
  auto& out = ctx.env.out;
  bool header = false;
  ReconcilerOptions options;
  options.limiter = std::make_shared<RateLimiter>(ctx.config.sync.rate_limit_per_s, ctx.env.clock);
  options.max_plan_lines = 0;  // printed as they come; only counted in the report
  if (!cmd.dry_run) options.open_steps = steps_factory(ctx);
  options.on_plan_line = [&](const PlanLine& line) {
    if (!header) {
      out << "AGENT\tROLE\tEXPECTED\tFOUND\tACTION\n";
      header = true;
    }
    out << line.agent_id << '\t' << (line.role.empty() ? "-" : line.role) << '\t'
        << join(line.expected) << '\t'
        << (line.found ? join(*line.found) : std::string(line.kind == "role_missing"
                                                             ? "(missing)"
                                                             : "-"))
        << '\t' << line.action << '\n';
  };
  NoSyncEvents events;
  // Reads retry transient failures with vault.retry (a one-shot command has no schedule).
  auto vault = parts.vault;
  Reconciler reconciler(outbox_factory(ctx), [vault] { return vault->retrying_api(); },
                        parts.desired, ctx.config.reconcile, ctx.env.clock, random_of(ctx.env),
                        *parts.log, events, options);
  auto report = reconciler.run(cmd.dry_run);
  if (!report.ok()) return fail(ctx.env, report.status().message());
  const ReconcileSummary& s = report->summary;
  out << (cmd.dry_run ? "Plan" : "Reconciled") << " (drift mode " << to_string(s.mode)
      << "): " << s.agents << " agents, " << s.in_sync << " in sync, " << s.drifted
      << " drifted, " << s.missing_roles << " missing roles, " << s.pending << " pending, "
      << s.parked << " parked, " << s.errors << " errors; " << s.repairs
      << (cmd.dry_run ? " repairs planned" : " repairs queued") << std::endl;
  for (const auto& e : report->errors) ctx.env.err << "policy-sidecar: " << e << '\n';
  if (!s.complete) return fail(ctx.env, "reconcile incomplete: " + s.error.value_or("stopped"));
  if (!cmd.detailed_exitcode) return kExitOk;
  // Errors (a role that could not be read) make the answer unknown: 1, never "in sync".
  if (s.errors > 0) return kExitFailed;
  return report->differences() ? kExitDifferences : kExitOk;
}

namespace {

// What `status AGENT` shows, read in one place.
struct AgentStatus {
  std::string agent_id;
  std::optional<std::int64_t> tier;
  std::optional<engine::OutboxRow> row;
  std::vector<engine::SyncHistoryEntry> history;
  std::vector<engine::DriftRecord> drift;
};

void print_agent_json(std::ostream& out, const AgentStatus& a, engine::WallTime now) {
  ojson j;
  j["agent_id"] = a.agent_id;
  j["ledger_tier"] = a.tier ? ojson(*a.tier) : ojson(nullptr);
  j["sync"] = a.row ? outbox_row_json(*a.row, now) : ojson(nullptr);
  ojson h = ojson::array();
  for (const auto& e : a.history) {
    h.push_back({{"at", e.at},
                 {"generation", e.generation},
                 {"tier", e.tier},
                 {"outcome", e.outcome},
                 {"policies", e.policies ? ojson(*e.policies) : ojson(nullptr)},
                 {"error_code", e.error_code ? ojson(*e.error_code) : ojson(nullptr)},
                 {"message", e.message ? ojson(*e.message) : ojson(nullptr)}});
  }
  j["history"] = h;
  ojson d = ojson::array();
  for (const auto& e : a.drift) {
    d.push_back({{"found_at", e.found_at},
                 {"kind", e.kind},
                 {"expected", e.expected},
                 {"found", e.found ? ojson(*e.found) : ojson(nullptr)},
                 {"mode", e.mode},
                 {"action", e.action}});
  }
  j["drift"] = d;
  out << j.dump(2) << std::endl;
}

void print_row_text(std::ostream& out, const engine::OutboxRow& r, engine::WallTime now) {
  out << "  role: " << r.role.value_or("(none)") << '\n'
      << "  desired token_policies: " << describe_policies(r.policies) << " (tier " << r.tier
      << ")\n"
      << "  state: " << engine::to_string(r.state) << " (generation " << r.generation
      << ", synced generation " << r.synced_generation << ", " << engine::to_string(r.kind)
      << ")\n"
      << "  attempts: " << r.attempts << '\n';
  if (r.state == engine::OutboxState::pending) {
    out << "  next attempt: " << iso(r.next_attempt_at) << '\n';
  }
  if (r.pending_since && r.state != engine::OutboxState::synced) {
    out << "  out of step since: " << iso(*r.pending_since) << " ("
        << age_seconds(*r.pending_since, now) << " s)\n";
  }
  if (r.last_error) {
    out << "  last error: " << r.error_code.value_or("error") << ": " << *r.last_error << '\n';
  }
  if (r.synced_at) out << "  last synced: " << *r.synced_at << '\n';
}

void print_agent_text(std::ostream& out, const AgentStatus& a, engine::WallTime now) {
  out << "Agent " << a.agent_id << ": ledger tier "
      << (a.tier ? std::to_string(*a.tier) : std::string("(unknown)")) << '\n';
  if (!a.row) {
    out << "  No tier change recorded by the sidecar yet (reconcile checks its role)\n";
  } else {
    print_row_text(out, *a.row, now);
  }
  if (!a.history.empty()) {
    out << "Recent pushes:\n";
    for (const auto& e : a.history) {
      out << "  " << e.at << "  generation " << e.generation << "  " << e.outcome;
      if (e.policies) out << "  [" << describe_policies(*e.policies) << "]";
      if (e.error_code) out << "  " << *e.error_code << ": " << e.message.value_or("");
      out << '\n';
    }
  }
  if (!a.drift.empty()) {
    out << "Recent drift:\n";
    for (const auto& e : a.drift) {
      out << "  " << e.found_at << "  " << e.kind << "  expected ["
          << describe_policies(e.expected) << "]  found "
          << (e.found ? "[" + describe_policies(*e.found) + "]" : std::string("(missing)"))
          << "  " << e.mode << " -> " << e.action << '\n';
    }
  }
  out << std::flush;
}

int status_of_agent(const SyncContext& ctx, const StatusCommand& cmd, engine::Outbox& outbox) {
  AgentStatus a;
  a.agent_id = *cmd.agent_id;
  auto ledger = engine::Ledger::open(ledger_options(ctx, true));
  if (!ledger.ok()) return fail(ctx.env, ledger.status().message());
  auto tier = (*ledger)->current_tier(a.agent_id);
  if (!tier.ok()) return fail(ctx.env, tier.status().message());
  auto row = outbox.row(a.agent_id);
  if (!row.ok()) return fail(ctx.env, row.status().message());
  if (!*tier && !*row) return fail(ctx.env, "Agent " + a.agent_id + " not found");
  auto history = outbox.history(a.agent_id, 10);
  auto drift = outbox.drift(a.agent_id, 10);
  if (!history.ok()) return fail(ctx.env, history.status().message());
  if (!drift.ok()) return fail(ctx.env, drift.status().message());
  a.tier = *tier;
  a.row = *row;
  a.history = std::move(history).value();
  a.drift = std::move(drift).value();
  const engine::WallTime now = ctx.env.clock.wall_now();
  cmd.json ? print_agent_json(ctx.env.out, a, now) : print_agent_text(ctx.env.out, a, now);
  return kExitOk;
}

// The kill switch and the revocation steps, when the ledger has them (migration 6).
struct RevocationStatus {
  bool known = false;
  bool frozen = false;
  std::string freeze_line;
  engine::StepStats steps;
};

RevocationStatus revocation_status(const SyncContext& ctx, engine::Outbox& outbox) {
  RevocationStatus r;
  auto frozen = outbox.frozen();
  auto steps = engine::RevocationSteps::open(ledger_options(ctx, true));
  if (!frozen.ok() || !steps.ok()) return r;
  auto stats = (*steps)->stats(20);
  if (!stats.ok()) return r;
  r.known = true;
  r.frozen = *frozen;
  r.steps = std::move(stats).value();
  return r;
}

int status_of_outbox(const SyncContext& ctx, const StatusCommand& cmd, engine::Outbox& outbox) {
  const engine::WallTime now = ctx.env.clock.wall_now();
  auto& out = ctx.env.out;
  auto stats = outbox.stats(now);
  if (!stats.ok()) return fail(ctx.env, stats.status().message());
  const auto& s = *stats;
  const RevocationStatus rev = revocation_status(ctx, outbox);
  if (cmd.json) {
    ojson j;
    j["outbox"] = {{"pending", s.pending},
                   {"synced", s.synced},
                   {"failed", s.failed},
                   {"in_flight", s.leased},
                   {"oldest_pending_since", s.oldest_pending_since
                                                ? ojson(iso(*s.oldest_pending_since))
                                                : ojson(nullptr)},
                   {"oldest_pending_age_s", s.oldest_pending_since
                                                ? ojson(age_seconds(*s.oldest_pending_since, now))
                                                : ojson(nullptr)}};
    ojson failed = ojson::array();
    for (const auto& r : s.failed_rows) failed.push_back(outbox_row_json(r, now));
    j["failed"] = failed;
    if (rev.known) {
      j["frozen"] = rev.frozen;
      j["revocation_steps"] = {{"pending", rev.steps.pending},
                               {"done", rev.steps.done},
                               {"failed", rev.steps.failed}};
    }
    out << j.dump(2) << std::endl;
    return kExitOk;
  }
  if (rev.frozen) out << "FROZEN: every agent held at Tier 0; promotions refused (unfreeze lifts it)\n";
  out << "Outbox: " << s.synced << " synced, " << s.pending << " pending";
  if (s.leased > 0) out << " (" << s.leased << " in flight)";
  out << ", " << s.failed << " failed\n";
  if (s.oldest_pending_since) {
    out << "Oldest pending change: " << age_seconds(*s.oldest_pending_since, now) << " s ago ("
        << iso(*s.oldest_pending_since) << ")\n";
  }
  if (!s.failed_rows.empty()) {
    out << "Parked pushes (retried by `reconcile`):\n";
    print_failed(out, s.failed_rows);
  }
  if (rev.known && rev.steps.pending + rev.steps.done + rev.steps.failed > 0) {
    out << "Revocation steps: " << rev.steps.done << " done, " << rev.steps.pending
        << " pending, " << rev.steps.failed << " failed\n";
  }
  out << std::flush;
  return kExitOk;
}


}  // namespace

int run_sync_command(const SyncContext& ctx, const StatusCommand& cmd) {
  auto outbox = engine::Outbox::open(ledger_options(ctx, true));
  if (!outbox.ok()) return fail(ctx.env, outbox.status().message());
  return cmd.agent_id ? status_of_agent(ctx, cmd, **outbox) : status_of_outbox(ctx, cmd, **outbox);
}

int run_sync_command(const SyncContext& ctx, const DemoteCommand& cmd) {
  auto tier_changes = CliTierChanges::open(ctx.config, ledger_options(ctx), ctx.env);
  if (!tier_changes.ok()) return fail(ctx.env, tier_changes.status().message(), kExitConfig);
  if (Status s = open_and_migrate(ctx); !s.ok()) return fail(ctx.env, s.message());
  TierChangeService::Demotion demotion;
  demotion.agent_id = cmd.agent_id;
  demotion.to_tier = cmd.to_tier;
  demotion.reason = cmd.reason;
  demotion.demoted_by = cli::actor(ctx.env, cmd.by);
  demotion.expected_from_tier = cmd.from_tier;
  demotion.at = ctx.now;
  auto record = (*tier_changes)->service().demote(demotion);
  if (!record.ok()) {
    const Status& s = record.status();
    if (s.code() == Code::failed_precondition || s.code() == Code::aborted) {
      ctx.env.out << "[FAILED] " << s.message() << std::endl;
      return kExitFailed;
    }
    if (s.code() == Code::invalid_argument) return fail(ctx.env, s.message(), kExitConfig);
    return fail(ctx.env, s.message());
  }
  ctx.env.out << "[OK] Demoted " << record->agent_id << " from Tier " << record->from_tier
              << " to Tier " << record->to_tier << '\n'
              << "  Recorded as demotion " << record->id << " at " << record->timestamp
              << " (by " << record->demoted_by << ")\n"
              << "  Vault: queued for the next sync (policy-sidecar sync)" << std::endl;
  return kExitOk;
}

}  // namespace ps::sidecar
