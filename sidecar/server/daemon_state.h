// What the daemon owns, the steps that build it and the threads it runs (private to daemon*.cpp:
// daemon.cpp builds and stops, daemon_threads.cpp holds the thread bodies, daemon_reload.cpp
// handles SIGHUP).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/base/mutex.h"
#include "engine/ledger/ledger.h"
#include "engine/ledger/outbox.h"
#include "sidecar/config/config.h"
#include "sidecar/config/log.h"
#include "sidecar/config/settings.h"
#include "sidecar/config/vault_setup.h"
#include "sidecar/server/audit.h"
#include "sidecar/server/daemon.h"
#include "sidecar/server/health.h"
#include "sidecar/server/listener.h"
#include "sidecar/server/metrics.h"
#include "sidecar/server/operator_api.h"
#include "sidecar/server/sd_notify.h"
#include "sidecar/server/serve_events.h"
#include "sidecar/server/serve_metrics.h"
#include "sidecar/server/webhook.h"
#include "sidecar/sync/retention.h"
#include "sidecar/sync/desired_state.h"
#include "sidecar/sync/evaluator.h"
#include "sidecar/sync/ledger_pool.h"
#include "sidecar/sync/rate_limiter.h"
#include "sidecar/sync/reconciler.h"
#include "sidecar/sync/sync_worker.h"
#include "sidecar/sync/tier_change_service.h"
#include "tls/tls.h"

namespace ps::sidecar::server {

// Seconds from the config as milliseconds.
inline std::chrono::milliseconds seconds_ms(double s) {
  return std::chrono::milliseconds(static_cast<std::int64_t>(s * 1000));
}

// A thread that says when it has finished, so shutdown can wait for it with a deadline.
class Task {
 public:
  Task(std::string name, std::function<void()> body);
  Task(Task&&) = default;
  ~Task();
  const std::string& name() const { return name_; }
  bool done() const { return done_->load(); }
  // Joins when finished; otherwise detaches (the process is about to exit).
  bool join_or_detach();

 private:
  std::string name_;
  std::shared_ptr<std::atomic<bool>> done_;
  std::thread thread_;
};

// Waits until every task is done or `deadline`; returns the names of those still running.
std::vector<std::string> wait_for_tasks(std::vector<Task*> tasks, const Clock& clock,
                                        Clock::SteadyTime deadline);

// The sync worker and the reconciler for one role mapping and one set of sync settings;
// replaced as a whole on a reload that changes them.
struct SyncGroup {
  std::shared_ptr<const DesiredState> desired;
  std::vector<std::unique_ptr<SyncWorker>> workers;  // sync.workers, one partition each
  std::unique_ptr<Reconciler> reconciler;
  std::atomic<bool> stop{false};
  std::vector<std::unique_ptr<Task>> tasks;

  // A commit queued a push for `agent_id` (empty: for several agents): wakes the worker of its
  // partition (every worker), which starts a pass at once.
  void wake(std::string_view agent_id) const;
  // The worker of `agent_id`'s partition, for the hand-off of its change (SyncWorker::handoff).
  std::optional<Handoff> handoff(std::string_view agent_id) const;
  // The worker whose partition (engine::agent_partition) holds `agent_id`.
  SyncWorker& worker_for(std::string_view agent_id) const;
};

struct Daemon::State {
  explicit State(DaemonEnvironment e) : env(std::move(e)) {}

  DaemonEnvironment env;
  std::unique_ptr<Logger> log;
  std::unique_ptr<SdNotifier> notifier;
  std::string version;

  mutable ps::Mutex config_mu;
  std::shared_ptr<const Config> config GUARDED_BY(config_mu);

  engine::LedgerOptions ledger_options;
  std::unique_ptr<LedgerPool> pool;
  std::unique_ptr<AuditLog> audit;
  std::unique_ptr<SettingsStore> settings;
  MetricsRegistry registry;
  std::unique_ptr<ServeMetrics> metrics;
  std::unique_ptr<ServeEvents> events;

  std::shared_ptr<VaultSetup> vault;
  std::shared_ptr<RateLimiter> limiter;
  mutable ps::Mutex group_mu;
  std::shared_ptr<SyncGroup> group GUARDED_BY(group_mu);  // never null after start

  // Apart, so that a Vault that does not answer never holds up /metrics or the outbox check.
  ps::Mutex outbox_probe_mu;
  std::unique_ptr<engine::Outbox> stats_outbox GUARDED_BY(outbox_probe_mu);
  std::optional<engine::OutboxStats> last_outbox_stats GUARDED_BY(outbox_probe_mu);
  ps::Mutex vault_probe_mu;
  std::unique_ptr<vault::VaultApi> health_api GUARDED_BY(vault_probe_mu);

  std::unique_ptr<TierChangeService> tier_changes;
  std::unique_ptr<UnauthenticatedGuard> webhook_guard;
  std::unique_ptr<ApprovalWebhook> webhook;
  std::unique_ptr<OperatorApi> api;
  std::unique_ptr<HealthChecker> health;
  std::unique_ptr<Evaluator> evaluator;
  std::unique_ptr<RetentionPruner> pruner;
  std::shared_ptr<tls::ServerTls> server_tls;
  std::unique_ptr<Listener> listener;

  std::atomic<bool> stopping{false};
  std::atomic<bool> listener_failed{false};
  std::atomic<bool> detached{false};  // a thread outlived shutdown (see ~Daemon)
  ps::Mutex stop_mu;
  ps::CondVar stop_cv;
  std::vector<std::unique_ptr<Task>> tasks;  // background threads other than the sync group

  // ---- start-up steps, in order (daemon.cpp) ----
  Status open_ledger(const Config& config);
  Status open_settings_and_audit(const Config& config);
  Status open_vault(const Config& config);
  void build_services(const Config& config);
  void build_health(const Config& config);
  Status bind_listener(const Config& config);
  void announce_ready();

  // ---- threads (daemon_threads.cpp) ----
  void start_threads();
  void run_evaluator();
  void run_retention();
  void run_health_probe();
  void run_wal_checkpoints();
  void run_violation_watcher();

  // ---- helpers ----
  std::shared_ptr<const Config> current_config() const {
    ps::MutexLock lock(config_mu);
    return config;
  }
  std::shared_ptr<SyncGroup> current_group() const {
    ps::MutexLock lock(group_mu);
    return group;
  }
  // Sleeps up to `d`; returns early (true) when the daemon is stopping.
  bool wait_or_stop(std::chrono::milliseconds d);

  // Builds and starts a sync group for `config` (its roles, sync and reconcile sections).
  Result<std::shared_ptr<SyncGroup>> make_group(const Config& config);
  void start_group(SyncGroup& group);
  // Asks the group's threads to stop and waits for them until `deadline`.
  void stop_group(SyncGroup& group, Clock::SteadyTime deadline);

  Result<std::unique_ptr<engine::Outbox>> open_outbox() const {
    return engine::Outbox::open(ledger_options);
  }
  CheckResult probe_ledger();
  Result<engine::OutboxStats> probe_outbox();
  void collect_metrics();
  CheckResult probe_freeze();
};

}  // namespace ps::sidecar::server
