#include "sidecar/server/daemon.h"

#include <algorithm>
#include <chrono>

#include "engine/base/mutex.h"
#include "engine/ledger/ledger_migrations.h"
#include "engine/ledger/revocation.h"
#include "engine/ledger/revocation_steps.h"
#include "engine/ledger/wal.h"
#include "sidecar/server/daemon_state.h"
#include "sidecar/server/signals.h"
#include "sidecar/server/version.h"

namespace ps::sidecar::server {

using namespace std::chrono_literals;

namespace {

std::string audit_path_for(const Config& config, const std::string& db_path) {
  if (!config.audit.path.empty()) return config.audit.path;
  const auto slash = db_path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : db_path.substr(0, slash));
  return dir + "/policy-sidecar-audit.jsonl";
}

std::string listener_url(const Config& config, int port, bool tls) {
  auto hp = parse_host_port(config.listener.address);
  std::string host = hp.ok() ? hp->host : "127.0.0.1";
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return std::string(tls ? "https://" : "http://") + host + ":" + std::to_string(port);
}

// Prepares the ledger for the daemon's writes: same schema rules as the write commands, then,
// with ledger.journal_mode "wal", write-ahead logging so that a commit is one fsync and readers
// never block approvals (the journal mode is the file's: "keep" leaves it to the platform).
Status prepare_ledger(const engine::LedgerOptions& options, const std::string& journal,
                      Clock& clock, Logger& log) {
  auto ledger = engine::Ledger::open(options);
  if (!ledger.ok()) return ledger.status();
  if (Status s = (*ledger)->check_schema_not_newer(); !s.ok()) return s;
  auto applied = (*ledger)->migrate(clock.wall_now(), engine::ledger_migrations(),
                                    [&](const engine::Migration& m) {
                                      log.info("ledger.migrate", "applying ledger migration",
                                               {{"version", m.version}, {"name", std::string(m.name)}});
                                    });
  if (!applied.ok()) return applied.status();
  auto mode = journal == "wal" ? engine::use_wal_journal(options) : engine::journal_mode(options);
  if (!mode.ok()) {
    log.warn("ledger.journal", "could not read or set the journal mode: " + mode.status().message());
  } else if (journal == "wal" && *mode != "wal") {
    log.warn("ledger.journal", "could not switch the ledger to WAL (another process holds it?)",
             {{"mode", *mode}});
  } else {
    log.info("ledger.journal", "ledger journal mode", {{"mode", *mode}, {"setting", journal}});
  }
  return Status::success();
}

}  // namespace

// ---- Task -------------------------------------------------------------------------------

Task::Task(std::string name, std::function<void()> body)
    : name_(std::move(name)), done_(std::make_shared<std::atomic<bool>>(false)) {
  thread_ = std::thread([body = std::move(body), done = done_] {
    body();
    done->store(true);
  });
}

Task::~Task() {
  if (thread_.joinable()) join_or_detach();
}

bool Task::join_or_detach() {
  if (!thread_.joinable()) return true;
  if (done()) {
    thread_.join();
    return true;
  }
  thread_.detach();
  return false;
}

std::vector<std::string> wait_for_tasks(std::vector<Task*> tasks, const Clock& clock,
                                        Clock::SteadyTime deadline) {
  for (;;) {
    const bool all_done = std::all_of(tasks.begin(), tasks.end(), [](Task* t) { return t->done(); });
    if (all_done || clock.steady_now() >= deadline) break;
    std::this_thread::sleep_for(10ms);  // shutdown only; the daemon's clock is real
  }
  std::vector<std::string> running;
  for (Task* t : tasks) {
    if (!t->join_or_detach()) running.push_back(t->name());
  }
  return running;
}

// ---- State helpers ------------------------------------------------------------------------

bool Daemon::State::wait_or_stop(std::chrono::milliseconds d) {
  ps::MutexLock lock(stop_mu);
  const auto deadline = std::chrono::steady_clock::now() + d;
  while (!stopping.load()) {
    if (stop_cv.wait_until(lock, deadline) == std::cv_status::timeout) return stopping.load();
  }
  return true;
}

Result<std::shared_ptr<SyncGroup>> Daemon::State::make_group(const Config& config) {
  auto desired = DesiredState::create(config.roles, vault->config().mount);
  if (!desired.ok()) return desired.status();
  auto g = std::make_shared<SyncGroup>();
  g->desired = *desired;
  OutboxFactory outbox = [options = ledger_options] { return engine::Outbox::open(options); };
  SyncWorkerOptions worker_options;
  worker_options.limiter = limiter;
  worker_options.vault_request_deadline = vault->config().request_timeout;
  StepsFactory steps = [options = ledger_options] { return engine::RevocationSteps::open(options); };
  worker_options.open_steps = steps;
  // Finishes share the approvals' group commit (the service exists before any group starts).
  worker_options.finish = [this](const std::vector<engine::PushOutcome>& outcomes,
                                 std::string_view owner, engine::WallTime now) {
    return tier_changes->record_pushes(outcomes, owner, now);
  };
  const auto n = static_cast<std::uint32_t>(config.sync.workers);
  worker_options.pause = std::make_shared<VaultPause>();
  for (std::uint32_t i = 0; i < n; ++i) {
    worker_options.partition = i;
    worker_options.partitions = n;
    g->workers.push_back(std::make_unique<SyncWorker>(outbox, vault->single_attempt_factory(),
                                                      g->desired, config.sync, env.clock,
                                                      env.random, *log, *events, worker_options));
  }
  ReconcilerOptions reconcile_options;
  reconcile_options.limiter = limiter;
  reconcile_options.open_steps = steps;
  g->reconciler = std::make_unique<Reconciler>(outbox, vault->single_attempt_factory(), g->desired,
                                               config.reconcile, env.clock, env.random, *log,
                                               *events, reconcile_options);
  return g;
}

SyncWorker& SyncGroup::worker_for(std::string_view agent_id) const {
  const auto n = static_cast<std::uint32_t>(workers.size());
  return *workers[engine::agent_partition(agent_id, n)];
}

void SyncGroup::wake(std::string_view agent_id) const {
  if (agent_id.empty()) {
    for (const auto& w : workers) w->wake();
    return;
  }
  worker_for(agent_id).wake();
}

std::optional<Handoff> SyncGroup::handoff(std::string_view agent_id) const {
  return worker_for(agent_id).handoff();
}

void Daemon::State::start_group(SyncGroup& g) {
  SyncGroup* gp = &g;
  for (auto& w : g.workers) {
    SyncWorker* wp = w.get();
    g.tasks.push_back(std::make_unique<Task>("sync worker", [gp, wp] {
      wp->run([gp] { return gp->stop.load(); });
    }));
  }
  g.tasks.push_back(std::make_unique<Task>("reconciler", [gp] {
    gp->reconciler->run_loop([gp] { return gp->stop.load(); });
  }));
}

void Daemon::State::stop_group(SyncGroup& g, Clock::SteadyTime deadline) {
  g.stop = true;
  for (auto& w : g.workers) w->request_stop();
  g.reconciler->request_stop();
  std::vector<Task*> tasks;
  for (auto& t : g.tasks) tasks.push_back(t.get());
  for (const auto& name : wait_for_tasks(tasks, env.clock, deadline)) {
    detached = true;
    log->warn("shutdown.timeout", name + " did not stop within the grace period");
  }
}

// ---- Start-up steps -----------------------------------------------------------------------

Status Daemon::State::open_ledger(const Config& config) {
  ledger_options = {env.db_path, config.ledger.busy_timeout_ms, false, config.ledger.scan_threads};
  if (Status p = prepare_ledger(ledger_options, config.ledger.journal_mode, env.clock, *log);
      !p.ok()) {
    return p;
  }
  pool = std::make_unique<LedgerPool>(ledger_options);
  return Status::success();
}

Status Daemon::State::open_settings_and_audit(const Config& config) {
  auto loaded = load_serve_settings(config);
  if (!loaded.ok()) return loaded.status();
  settings = std::make_unique<SettingsStore>(*loaded);
  auto opened = AuditLog::open(audit_path_for(config, env.db_path), env.clock);
  if (!opened.ok()) return opened.status();
  audit = std::move(opened).value();
  metrics = std::make_unique<ServeMetrics>(registry, version);
  events = std::make_unique<ServeEvents>(*metrics, *log, audit.get());
  return Status::success();
}

Status Daemon::State::open_vault(const Config& config) {
  auto vault_config = effective_vault_config(config.vault, env.vault_env);
  if (!vault_config.ok()) return vault_config.status();
  auto setup = VaultSetup::open(*vault_config, env.clock, env.random, *log,
                                vault_request_metrics(*metrics));
  if (!setup.ok()) return setup.status();
  vault = *setup;
  limiter = std::make_shared<RateLimiter>(config.sync.rate_limit_per_s, env.clock);
  auto made = make_group(config);
  if (!made.ok()) return made.status();
  {
    ps::MutexLock lock(group_mu);
    group = *made;
  }
  ps::MutexLock lock(vault_probe_mu);
  health_api = vault->single_attempt_api();
  return Status::success();
}

// The group is looked up per wake-up: a reload may have replaced it.
void Daemon::State::build_services(const Config& config) {
  TierChangeServiceDeps deps{*pool, *settings, env.clock, *events};
  deps.on_committed = [this](std::string_view agent_id) { current_group()->wake(agent_id); };
  deps.handoff = [this](std::string_view agent_id) { return current_group()->handoff(agent_id); };
  tier_changes = std::make_unique<TierChangeService>(std::move(deps), current_group()->desired);
  PeerLimits limits;
  limits.rate_per_s = static_cast<double>(config.webhook.unauthenticated_per_s);
  limits.burst = static_cast<double>(config.webhook.unauthenticated_burst);
  limits.max_peers = static_cast<std::size_t>(config.webhook.tracked_peers);
  limits.log_interval = seconds_ms(config.webhook.rejection_log_interval_s);
  webhook_guard = std::make_unique<UnauthenticatedGuard>(limits, env.clock);
  webhook = std::make_unique<ApprovalWebhook>(WebhookDeps{*pool, *settings, *tier_changes,
                                                          env.clock, *log, audit.get(),
                                                          metrics.get(), webhook_guard.get()});
  evaluator =
      std::make_unique<Evaluator>(*pool, *settings, *tier_changes, env.clock, *log, *events);
  pruner = std::make_unique<RetentionPruner>(*pool, env.clock);
  api = std::make_unique<OperatorApi>(OperatorApiDeps{
      *pool, *settings, [this] { return open_outbox(); },
      [this](bool dry_run) { return current_group()->reconciler->run(dry_run); }, env.clock,
      *log, tier_changes.get()});
}

CheckResult Daemon::State::probe_ledger() {
  auto lease = pool->acquire();
  if (!lease.ok()) return {HealthStatus::failed, lease.status().message()};
  auto schema = lease->ledger().schema_version();
  if (!schema.ok()) {
    lease->discard();
    return {HealthStatus::failed, schema.status().message()};
  }
  const int want = engine::ledger_migrations().back().version;
  if (*schema < want) {
    return {HealthStatus::failed, "not migrated (schema version " + std::to_string(*schema) +
                                      ", this build needs " + std::to_string(want) + ")"};
  }
  return {HealthStatus::ok, "readable, schema version " + std::to_string(*schema)};
}

Result<engine::OutboxStats> Daemon::State::probe_outbox() {
  ps::MutexLock lock(outbox_probe_mu);
  if (!stats_outbox) {
    auto o = open_outbox();
    if (!o.ok()) return o.status();
    stats_outbox = std::move(o).value();
  }
  auto stats = stats_outbox->stats(env.clock.wall_now(), 0);
  if (!stats.ok()) {
    stats_outbox.reset();
  } else {
    last_outbox_stats = *stats;
  }
  return stats;
}

CheckResult Daemon::State::probe_freeze() {
  auto lease = pool->acquire();
  if (!lease.ok()) return {HealthStatus::failed, lease.status().message()};
  auto state = engine::Revocations(lease->ledger()).freeze_state();
  if (!state.ok()) {
    lease->discard();
    return {HealthStatus::failed, state.status().message()};
  }
  metrics->frozen.set(state->frozen ? 1 : 0);
  if (!state->frozen) return {HealthStatus::ok, "not frozen"};
  return {HealthStatus::degraded, "frozen since " + state->since.value_or("?") + " by " +
                                      state->by + ": " + state->reason +
                                      " (every agent at tier 0; promotions refused)"};
}

// Scrapes read what the background prober last saw: a scrape never runs a ledger query.
void Daemon::State::collect_metrics() {
  std::optional<engine::OutboxStats> stats;
  {
    ps::MutexLock lock(outbox_probe_mu);
    stats = last_outbox_stats;
  }
  if (stats) {
    metrics->outbox_rows.set({"pending"}, static_cast<double>(stats->pending));
    metrics->outbox_rows.set({"synced"}, static_cast<double>(stats->synced));
    metrics->outbox_rows.set({"failed"}, static_cast<double>(stats->failed));
    metrics->outbox_rows.set({"in_flight"}, static_cast<double>(stats->leased));
    const double age =
        stats->oldest_pending_since
            ? std::chrono::duration<double>(env.clock.wall_now() - *stats->oldest_pending_since)
                  .count()
            : 0;
    metrics->outbox_oldest_pending_age.set(std::max(0.0, age));
  }
  const vault::TokenStatus t = vault->auth().status();
  metrics->token_valid.set(t.has_token && t.valid ? 1 : 0);
  metrics->token_ttl.set(t.ttl_known && t.expires ? static_cast<double>(t.ttl.count()) : -1);
}

void Daemon::State::build_health(const Config& config) {
  HealthProbes probes;
  probes.ledger = [this] { return probe_ledger(); };
  probes.vault_health = [this] {
    vault::Result<vault::Health> r = [this] {
      ps::MutexLock lock(vault_probe_mu);
      return health_api->health();
    }();
    metrics->vault_up.set(r.ok() && !r->sealed && r->initialized ? 1 : 0);
    return r;
  };
  probes.token = [this] { return vault->auth().status(); };
  probes.outbox = [this] { return probe_outbox(); };
  probes.freeze = [this] { return probe_freeze(); };
  probes.privilege = [this]() -> CheckResult {
    const std::int64_t n = events->excess_privilege();
    if (n == 0) return {HealthStatus::ok, "no role grants more than the ledger justifies"};
    return {HealthStatus::degraded,
            std::to_string(n) + " role(s) hold a tier policy the ledger does not justify" +
                (events->excess_unrepaired() ? " (drift_mode ignore: not repaired)"
                                             : " (repairs queued)")};
  };
  health = std::make_unique<HealthChecker>(probes, env.clock,
                                           seconds_ms(config.health.outbox_stuck_s));
  registry.add_collector([this] { collect_metrics(); });
}

Status Daemon::State::bind_listener(const Config& config) {
  if (!config.listener.tls_disable) {
    auto created = tls::ServerTls::create(
        {config.listener.tls_cert, config.listener.tls_key, config.listener.tls_client_ca},
        log->as_log_fn("tls"));
    if (!created.ok()) {
      return Status(Code::invalid_argument, "listener TLS: " + created.status().message());
    }
    server_tls = std::move(created).value();
  }
  Routes routes{webhook.get(), api.get(), health.get(), &registry, metrics.get(), version,
                config.api.metrics_auth};
  auto bound = Listener::create(config.listener, server_tls, routes, *log, env.clock);
  if (!bound.ok()) return bound.status();
  listener = std::move(bound).value();
  return Status::success();
}

void Daemon::State::announce_ready() {
  const std::string url = listener_url(*current_config(), listener->port(), listener->tls());
  log->info("serve.ready", "policy-sidecar is serving",
            {{"address", url}, {"ledger", env.db_path}, {"version", version},
             {"vault", vault->config().address}});
  env.announce << "POLICY_SIDECAR_ADDR=" << url << std::endl;
  if (Status n = notifier->ready("serving on " + url); !n.ok()) {
    log->warn("systemd.notify", n.message());
  }
}

// ---- Start --------------------------------------------------------------------------------

Daemon::Daemon(std::unique_ptr<State> state) : s_(std::move(state)) {}

Daemon::~Daemon() {
  // A thread still running after shutdown (detached at the deadline) may touch the state:
  // leave it to the process exit rather than free it under that thread.
  if (s_ && s_->detached.load()) (void)s_.release();
}

int Daemon::port() const { return s_->listener ? s_->listener->port() : 0; }

Result<std::unique_ptr<Daemon>> Daemon::start(Config config, DaemonEnvironment env) {
  auto st = std::make_unique<State>(std::move(env));
  State& s = *st;
  s.version = kVersion;
  s.log = std::make_unique<Logger>(s.env.log_sink, s.env.clock, config.log.level, config.log.format);
  s.notifier = std::make_unique<SdNotifier>(s.env.notify_socket);
  if (Status v = validate_serve_config(config); !v.ok()) return v;
  if (Status x = s.open_ledger(config); !x.ok()) return x;
  if (Status x = s.open_settings_and_audit(config); !x.ok()) return x;
  if (Status x = s.open_vault(config); !x.ok()) return x;
  s.build_services(config);
  s.build_health(config);
  if (Status x = s.bind_listener(config); !x.ok()) return x;  // a taken port fails the start
  {
    ps::MutexLock lock(s.config_mu);
    s.config = std::make_shared<const Config>(std::move(config));
  }
  s.start_threads();
  s.announce_ready();
  return std::unique_ptr<Daemon>(new Daemon(std::move(st)));
}

// ---- Run and shutdown -------------------------------------------------------------------

int Daemon::run() {
  for (;;) {
    const auto sig = SignalWaiter::wait(250ms);
    if (s_->listener_failed.load()) {
      s_->log->error("serve.listener_failed", "the listener stopped unexpectedly");
      shutdown();
      return 1;
    }
    if (!sig) continue;
    if (*sig == ControlSignal::reload) {
      reload();
      continue;
    }
    shutdown();
    return 0;
  }
}

// The order matters: nothing new is accepted before in-flight requests are waited for, and
// the workers stop last so that approvals committed during the drain are still pushed by the
// pass in progress (or stay pending in the outbox for the next start - never lost).
void Daemon::shutdown() {
  State& s = *s_;
  if (s.stopping.exchange(true)) return;
  const auto cfg = s.current_config();
  const auto deadline = s.env.clock.steady_now() + seconds_ms(cfg->shutdown.grace_s);
  if (Status n = s.notifier->stopping(); !n.ok()) s.log->warn("systemd.notify", n.message());
  s.log->info("shutdown.started", "stopping: no new connections; finishing requests in flight",
              {{"grace_s", cfg->shutdown.grace_s}, {"in_flight", s.listener->in_flight()}});
  s.listener->stop();
  if (!s.listener->drain(deadline)) {
    s.log->warn("shutdown.timeout", "requests still in flight at the end of the grace period",
                {{"in_flight", s.listener->in_flight()}});
  }
  s.stop_cv.notify_all();
  s.stop_group(*s.current_group(), deadline);
  std::vector<Task*> tasks;
  for (auto& t : s.tasks) tasks.push_back(t.get());
  for (const auto& name : wait_for_tasks(tasks, s.env.clock, deadline)) {
    // Typically the listener, kept by idle kept-alive connections: nothing is in flight.
    s.detached = true;
    s.log->info("shutdown.detached", name + " still running at exit (nothing in flight)");
  }
  s.log->info("shutdown.done", "policy-sidecar stopped");
}

}  // namespace ps::sidecar::server
