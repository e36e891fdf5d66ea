#include "sidecar/server/daemon.h"

#include <algorithm>
#include <chrono>

#include "engine/approvals.h"
#include "engine/ledger_migrations.h"
#include "sidecar/server/daemon_state.h"
#include "sidecar/server/signals.h"

#ifndef PS_VERSION
#define PS_VERSION "0.0.0"
#endif

namespace ps::sidecar::server {

using engine::Code;
using engine::Status;
using namespace std::chrono_literals;

namespace {

constexpr auto kHealthProbeInterval = 2s;
// How long a commit waits for others before the sync worker is woken. Each pass costs two
// ledger write transactions (claim, finish); under a burst of approvals, one pass per commit
// would double the fsyncs the approvals themselves need and queue them behind the worker.
constexpr auto kWakeDelay = 20ms;
// Background WAL checkpoints (see engine::WalCheckpointer): often enough that the WAL never
// reaches SQLite's 1000-page auto-checkpoint in a committing connection.
constexpr auto kCheckpointInterval = 250ms;

std::chrono::milliseconds seconds_ms(double s) {
  return std::chrono::milliseconds(static_cast<std::int64_t>(s * 1000));
}

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
  std::unique_lock<std::mutex> lock(stop_mu);
  return stop_cv.wait_for(lock, d, [this] { return stopping.load(); });
}

engine::Result<std::shared_ptr<SyncGroup>> Daemon::State::make_group(const Config& config) {
  auto desired = DesiredState::create(config.roles, vault->config().mount);
  if (!desired.ok()) return desired.status();
  auto g = std::make_shared<SyncGroup>();
  g->desired = *desired;
  g->hook = make_outbox_hook(g->desired);
  OutboxFactory outbox = [options = ledger_options] { return engine::Outbox::open(options); };
  SyncWorkerOptions worker_options;
  worker_options.limiter = limiter;
  g->worker = std::make_unique<SyncWorker>(outbox, vault->single_attempt_factory(), g->desired,
                                           config.sync, env.clock, env.random, *log, *events,
                                           worker_options);
  ReconcilerOptions reconcile_options;
  reconcile_options.limiter = limiter;
  g->reconciler = std::make_unique<Reconciler>(outbox, vault->single_attempt_factory(), g->desired,
                                               config.reconcile, env.clock, env.random, *log,
                                               *events, reconcile_options);
  return g;
}

void Daemon::State::start_group(SyncGroup& g) {
  SyncGroup* gp = &g;
  g.tasks.push_back(std::make_unique<Task>("sync worker", [gp] {
    gp->worker->run([gp] { return gp->stop.load(); });
  }));
  g.tasks.push_back(std::make_unique<Task>("reconciler", [gp] {
    gp->reconciler->run_loop([gp] { return gp->stop.load(); });
  }));
}

void Daemon::State::stop_group(SyncGroup& g, Clock::SteadyTime deadline) {
  g.stop = true;
  g.worker->request_stop();
  g.reconciler->request_stop();
  std::vector<Task*> tasks;
  for (auto& t : g.tasks) tasks.push_back(t.get());
  for (const auto& name : wait_for_tasks(tasks, env.clock, deadline)) {
    detached = true;
    log->warn("shutdown.timeout", name + " did not stop within the grace period");
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

engine::Result<std::unique_ptr<Daemon>> Daemon::start(Config config, DaemonEnvironment env) {
  auto st = std::make_unique<State>(std::move(env));
  State& s = *st;
  s.version = PS_VERSION;
  s.log = std::make_unique<Logger>(s.env.log_sink, s.env.clock, config.log.level, config.log.format);
  s.notifier = std::make_unique<SdNotifier>(s.env.notify_socket);
  Logger& log = *s.log;
  if (Status v = validate_serve_config(config); !v.ok()) return v;

  // 2. Ledger.
  s.ledger_options = {s.env.db_path, config.ledger.busy_timeout_ms, false,
                      config.ledger.scan_threads};
  if (Status p = prepare_ledger(s.ledger_options, config.ledger.journal_mode, s.env.clock, log);
      !p.ok()) {
    return p;
  }
  s.pool = std::make_unique<LedgerPool>(s.ledger_options);

  // 3. Secret files and the audit trail.
  auto settings = load_serve_settings(config);
  if (!settings.ok()) return settings.status();
  s.settings = std::make_unique<SettingsStore>(*settings);
  auto audit = AuditLog::open(audit_path_for(config, s.env.db_path), s.env.clock);
  if (!audit.ok()) return audit.status();
  s.audit = std::move(audit).value();
  s.metrics = std::make_unique<ServeMetrics>(s.registry, s.version);
  s.events = std::make_unique<ServeSyncEvents>(*s.metrics, log, s.audit.get());

  // 4. Vault and the role mapping.
  auto vault_config = effective_vault_config(config.vault, s.env.vault_env);
  if (!vault_config.ok()) return vault_config.status();
  auto vault = VaultSetup::open(*vault_config, s.env.clock, s.env.random, log,
                                vault_request_metrics(*s.metrics));
  if (!vault.ok()) return vault.status();
  s.vault = *vault;
  s.limiter = std::make_shared<RateLimiter>(config.sync.rate_limit_per_s, s.env.clock);
  auto group = s.make_group(config);
  if (!group.ok()) return group.status();
  s.group = *group;
  s.health_api = s.vault->single_attempt_api();

  State* sp = &s;
  ApprovalDeps deps{*s.pool, *s.settings, {}, "pending", s.env.clock, log, s.audit.get(),
                    s.metrics.get()};
  // The hook and the worker are looked up per promotion: a reload may have replaced them.
  deps.outbox_hook = [sp](engine::LedgerTx& tx, const engine::TierChange& c) {
    return sp->current_group()->hook(tx, c);
  };
  deps.on_committed = [sp] { sp->request_wake(); };
  s.approvals = std::make_unique<ApprovalProcessor>(std::move(deps));
  s.evaluator = std::make_unique<Evaluator>(*s.pool, *s.settings, *s.approvals, s.env.clock, log,
                                            s.metrics.get());
  s.api = std::make_unique<OperatorApi>(OperatorApiDeps{
      *s.pool, *s.settings, [sp] { return sp->open_outbox(); },
      [sp](bool dry_run) { return sp->current_group()->reconciler->run(dry_run); }, s.env.clock,
      log});

  HealthProbes probes;
  probes.ledger = [sp]() -> CheckResult {
    auto lease = sp->pool->acquire();
    if (!lease.ok()) return {HealthStatus::failed, lease.status().message()};
    auto version = lease->ledger().schema_version();
    if (!version.ok()) {
      lease->discard();
      return {HealthStatus::failed, version.status().message()};
    }
    const int want = engine::ledger_migrations().back().version;
    if (*version < want) {
      return {HealthStatus::failed, "not migrated (schema version " + std::to_string(*version) +
                                        ", this build needs " + std::to_string(want) + ")"};
    }
    return {HealthStatus::ok, "readable, schema version " + std::to_string(*version)};
  };
  probes.vault_health = [sp]() {
    vault::Result<vault::Health> r = [sp] {
      std::lock_guard<std::mutex> lock(sp->vault_probe_mu);
      return sp->health_api->health();
    }();
    sp->metrics->vault_up.set(r.ok() && !r->sealed && r->initialized ? 1 : 0);
    return r;
  };
  probes.token = [sp] { return sp->vault->auth().status(); };
  probes.outbox = [sp]() -> engine::Result<engine::OutboxStats> {
    std::lock_guard<std::mutex> lock(sp->outbox_probe_mu);
    if (!sp->stats_outbox) {
      auto o = sp->open_outbox();
      if (!o.ok()) return o.status();
      sp->stats_outbox = std::move(o).value();
    }
    auto stats = sp->stats_outbox->stats(sp->env.clock.wall_now(), 0);
    if (!stats.ok()) sp->stats_outbox.reset();
    return stats;
  };
  s.health = std::make_unique<HealthChecker>(probes, s.env.clock, seconds_ms(config.health.outbox_stuck_s));
  s.registry.add_collector([sp, outbox = probes.outbox] {
    auto stats = outbox();
    if (stats.ok()) {
      sp->metrics->outbox_rows.set({"pending"}, static_cast<double>(stats->pending));
      sp->metrics->outbox_rows.set({"synced"}, static_cast<double>(stats->synced));
      sp->metrics->outbox_rows.set({"failed"}, static_cast<double>(stats->failed));
      sp->metrics->outbox_rows.set({"in_flight"}, static_cast<double>(stats->leased));
      const double age = stats->oldest_pending_since
          ? std::chrono::duration<double>(sp->env.clock.wall_now() - *stats->oldest_pending_since).count()
          : 0;
      sp->metrics->outbox_oldest_pending_age.set(std::max(0.0, age));
    }
    const vault::TokenStatus t = sp->vault->auth().status();
    sp->metrics->token_valid.set(t.has_token && t.valid ? 1 : 0);
    sp->metrics->token_ttl.set(t.ttl_known && t.expires ? static_cast<double>(t.ttl.count()) : -1);
  });

  // 5. Listener (bound now: a taken port fails the start).
  if (!config.listener.tls_disable) {
    std::string why;
    s.server_tls = tls::ServerTls::create(
        {config.listener.tls_cert, config.listener.tls_key, config.listener.tls_client_ca},
        log.as_log_fn("tls"), &why);
    if (!s.server_tls) return Status(Code::invalid_argument, "listener TLS: " + why);
  }
  Routes routes{s.approvals.get(), s.api.get(), s.health.get(), &s.registry, s.metrics.get(), s.version};
  auto listener = Listener::create(config.listener, s.server_tls, routes, log, s.env.clock);
  if (!listener.ok()) return listener.status();
  s.listener = std::move(listener).value();
  s.config = std::make_shared<const Config>(std::move(config));

  // 6. Threads.
  s.health->probe_vault();
  s.start_group(*s.group);
  s.tasks.push_back(std::make_unique<Task>("vault auth", [sp] {
    sp->vault->auth().run([sp] { return sp->stopping.load(); }, 500ms);
  }));
  s.tasks.push_back(std::make_unique<Task>("sync waker", [sp] {
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(sp->wake_mu);
        sp->wake_cv.wait(lock, [sp] { return sp->wake_pending || sp->stopping.load(); });
      }
      if (sp->wait_or_stop(kWakeDelay)) return;
      {
        std::lock_guard<std::mutex> lock(sp->wake_mu);
        sp->wake_pending = false;
      }
      sp->current_group()->worker->wake();
    }
  }));
  s.tasks.push_back(std::make_unique<Task>("wal checkpoint", [sp] {
    std::unique_ptr<engine::WalCheckpointer> checkpointer;
    while (!sp->wait_or_stop(kCheckpointInterval)) {
      if (!checkpointer) {
        auto c = engine::WalCheckpointer::open(sp->ledger_options);
        if (!c.ok()) continue;
        checkpointer = std::move(c).value();
      }
      if (auto p = checkpointer->checkpoint(); !p.ok()) {
        sp->log->debug("ledger.checkpoint", p.status().message());
        checkpointer.reset();
      }
    }
  }));
  s.tasks.push_back(std::make_unique<Task>("health probe", [sp] {
    HealthStatus last = HealthStatus::ok;
    while (!sp->wait_or_stop(kHealthProbeInterval)) {
      sp->health->probe_vault();
      const HealthReport r = sp->health->check();
      if (r.status != last) {
        nlohmann::json checks = nlohmann::json::object();
        for (const auto& [name, c] : r.checks) checks[name] = c.reason;
        sp->log->log(r.status == HealthStatus::ok ? LogLevel::info : LogLevel::warn,
                     "health.changed", std::string("health is ") + to_string(r.status),
                     {{"checks", checks}});
        last = r.status;
      }
    }
  }));
  s.tasks.push_back(std::make_unique<Task>("evaluator", [sp] {
    for (;;) {
      auto cfg = sp->current_config();
      if (cfg->evaluate.interval_s > 0) {
        auto pass = sp->evaluator->run_once(cfg->evaluate.auto_promote);
        if (!pass.ok()) sp->log->error("evaluate.failed", pass.status().message());
      }
      const double wait_s = cfg->evaluate.interval_s > 0 ? cfg->evaluate.interval_s : 60;
      if (sp->wait_or_stop(seconds_ms(wait_s))) return;
    }
  }));
  s.tasks.push_back(std::make_unique<Task>("listener", [sp] {
    sp->listener->run();
    if (!sp->stopping.load()) sp->listener_failed = true;
  }));

  // 7. Ready.
  const std::string url = listener_url(*s.config, s.listener->port(), s.listener->tls());
  log.info("serve.ready", "policy-sidecar is serving",
           {{"address", url}, {"ledger", s.env.db_path}, {"version", s.version},
            {"vault", s.vault->config().address}});
  s.env.announce << "POLICY_SIDECAR_ADDR=" << url << std::endl;
  if (auto e = s.notifier->ready("serving on " + url); !e.empty()) {
    log.warn("systemd.notify", e);
  }
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
  if (auto e = s.notifier->stopping(); !e.empty()) s.log->warn("systemd.notify", e);
  s.log->info("shutdown.started", "stopping: no new connections; finishing requests in flight",
              {{"grace_s", cfg->shutdown.grace_s}, {"in_flight", s.listener->in_flight()}});
  s.listener->stop();
  if (!s.listener->drain(deadline)) {
    s.log->warn("shutdown.timeout", "requests still in flight at the end of the grace period",
                {{"in_flight", s.listener->in_flight()}});
  }
  s.stop_cv.notify_all();
  s.wake_cv.notify_all();
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
