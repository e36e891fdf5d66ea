// The daemon's background threads: one function per thread body (see daemon.h, step 6).
#include <chrono>

#include "engine/ledger/wal.h"
#include "sidecar/server/daemon_state.h"

namespace ps::sidecar::server {
namespace {

using namespace std::chrono_literals;

constexpr auto kHealthProbeInterval = 2s;
// Background WAL checkpoints (see engine::WalCheckpointer): often enough that the WAL never
// reaches SQLite's 1000-page auto-checkpoint in a committing connection.
constexpr auto kCheckpointInterval = 250ms;
// Between two retention batches: the ledger's other writers (the platform's included) get it.
constexpr auto kRetentionBatchPause = 50ms;

}  // namespace

void Daemon::State::start_threads() {
  health->probe_vault();
  health->refresh();
  start_group(*current_group());
  tasks.push_back(std::make_unique<Task>("vault auth", [this] {
    vault->auth().run([this] { return stopping.load(); }, 500ms);
  }));
  tasks.push_back(std::make_unique<Task>("wal checkpoint", [this] { run_wal_checkpoints(); }));
  tasks.push_back(std::make_unique<Task>("health probe", [this] { run_health_probe(); }));
  tasks.push_back(std::make_unique<Task>("evaluator", [this] { run_evaluator(); }));
  tasks.push_back(std::make_unique<Task>("violation watcher", [this] { run_violation_watcher(); }));
  tasks.push_back(std::make_unique<Task>("retention", [this] { run_retention(); }));
  tasks.push_back(std::make_unique<Task>("listener", [this] {
    listener->run();
    if (!stopping.load()) listener_failed = true;
  }));
}

void Daemon::State::run_wal_checkpoints() {
  std::unique_ptr<engine::WalCheckpointer> checkpointer;
  while (!wait_or_stop(kCheckpointInterval)) {
    if (!checkpointer) {
      auto c = engine::WalCheckpointer::open(ledger_options);
      if (!c.ok()) continue;
      checkpointer = std::move(c).value();
    }
    if (auto p = checkpointer->checkpoint(); !p.ok()) {
      log->debug("ledger.checkpoint", p.status().message());
      checkpointer.reset();
    }
  }
}

// Probes Vault in the background (health requests never wait for Vault) and logs every change
// of the overall health.
void Daemon::State::run_health_probe() {
  HealthStatus last = HealthStatus::ok;
  while (!wait_or_stop(kHealthProbeInterval)) {
    health->probe_vault();
    const HealthReport r = health->refresh();
    if (r.status == last) continue;
    nlohmann::json checks = nlohmann::json::object();
    for (const auto& [name, c] : r.checks) checks[name] = c.reason;
    log->log(r.status == HealthStatus::ok ? LogLevel::info : LogLevel::warn, "health.changed",
             std::string("health is ") + to_string(r.status), {{"checks", checks}});
    last = r.status;
  }
}

// evaluate.interval_s is read on every round: a reload may change it (0 = off; looked at again
// every minute).
void Daemon::State::run_evaluator() {
  for (;;) {
    auto cfg = current_config();
    if (cfg->evaluate.interval_s > 0) {
      auto pass = evaluator->run_once(cfg->evaluate.auto_promote);
      if (!pass.ok()) log->error("evaluate.failed", pass.status().message());
    }
    const double wait_s = cfg->evaluate.interval_s > 0 ? cfg->evaluate.interval_s : 60;
    if (wait_or_stop(seconds_ms(wait_s))) return;
  }
}

// Retention (retention.*, read each round: a reload may change it; interval_s 0 = off, looked
// at again every minute). The first pass runs one interval after start.
void Daemon::State::run_retention() {
  for (;;) {
    auto cfg = current_config();
    const double interval_s = cfg->retention.interval_s > 0 ? cfg->retention.interval_s : 60;
    if (wait_or_stop(seconds_ms(interval_s))) return;
    cfg = current_config();
    if (cfg->retention.interval_s <= 0) continue;
    auto pass = pruner->run_once(cfg->retention,
                                 [this] { return wait_or_stop(kRetentionBatchPause); });
    if (!pass.ok()) {
      log->error("retention.failed", pass.status().message());
      continue;
    }
    nlohmann::json deleted = nlohmann::json::object();
    for (const auto& [table, n] : pass->deleted) {
      if (n > 0) metrics->retention_deleted.inc({table}, static_cast<double>(n));
      deleted[table] = n;
    }
    if (pass->total() > 0) {
      log->info("retention.pruned", "old records deleted",
                {{"deleted", deleted}, {"batches", pass->batches}});
    }
    if (pass->stopped) return;
  }
}

// Violations to demotions while serving (revocation.watch; revocation.poll_interval_s, both
// read each round: a reload may change them). A violation is applied in the ledger within one
// interval and pushed at once (the service wakes the sync worker).
void Daemon::State::run_violation_watcher() {
  for (;;) {
    const auto revocation = settings->get()->revocation;
    if (revocation.watch) {
      auto pass = tier_changes->scan_violations();
      if (!pass.ok()) {
        log->error("revocation.scan_failed", pass.status().message());
      } else if (pass->handled > 0) {
        log->info("revocation.scan", "violations handled",
                  {{"handled", pass->handled}, {"demoted", pass->demoted},
                   {"revoked_in_place", pass->revoked_in_place}, {"mark", pass->mark}});
      }
    }
    if (wait_or_stop(revocation.poll_interval)) return;
  }
}

}  // namespace ps::sidecar::server
