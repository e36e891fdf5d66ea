// `policy-sidecar serve`: builds every part from the configuration, runs them, and handles the
// process's lifecycle. The order of start-up is the point of start():
//   1. logger; serve-only config checks (listener TLS, loopback for plain HTTP)
//   2. ledger: open, refuse a newer schema, migrate, switch to WAL (one fsync per commit)
//   3. secret files (webhook secrets, API token; refused when group/world readable), audit file
//   4. Vault: VAULT_* over vault.*, TLS material, AuthManager; desired state from `roles`
//   5. listener bound (so a taken port fails the start, before anything runs)
//   6. threads: sync worker, reconciler (a pass at start, then on schedule), own-token renewal,
//      periodic evaluation, background health probe, listener
//   7. READY=1 to systemd, POLICY_SIDECAR_ADDR=<url> on stdout
// run() then waits for signals (see signals.h):
//   SIGHUP  reload(): re-read the config file; everything that can fail is checked first
//           (parse, secret files, roles, both sides' TLS files) and the reload is rejected
//           with the reason if any of it fails - the old settings stay. Then: listener TLS,
//           Vault client TLS, log level/format, rules, webhook secrets and approver lists, API
//           token, role mapping, sync/reconcile/evaluate settings (the sync worker and the
//           reconciler are restarted, the current push finishing first). Keys that need a
//           restart (listener address and limits, ledger, audit path, Vault address/auth) are
//           named in a warning and keep their old values.
//   SIGTERM/SIGINT  shutdown(): STOPPING=1; stop accepting; wait for requests in flight;
//           stop the workers (the current Vault push finishes and is recorded); all within
//           shutdown.grace_s. run() then returns 0.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "engine/base/status.h"
#include "sidecar/config/config.h"
#include "sidecar/config/log.h"
#include "engine/base/clock.h"
#include "vault/config.h"

namespace ps::sidecar::server {

struct SyncGroup;

struct DaemonEnvironment {
  std::string config_path;  // re-read on SIGHUP
  std::string db_path;      // resolved like every command (--db, POLICY_SIDECAR_DB, config)
  bool db_from_config = true;  // false: --db / POLICY_SIDECAR_DB fixed it (reload keeps it)
  Clock& clock;
  RandomSource random;
  vault::EnvGetter vault_env;  // VAULT_*
  Logger::Sink log_sink;
  std::string notify_socket;  // $NOTIFY_SOCKET ("" = not under systemd notify)
  std::ostream& announce;     // gets "POLICY_SIDECAR_ADDR=<url>" once listening
};

class Daemon {
 public:
  // Everything up to and including READY (see above). A failure is the reason the daemon
  // cannot start (invalid_argument: configuration; unavailable: ledger, port, files); nothing
  // keeps running after it.
  static Result<std::unique_ptr<Daemon>> start(Config config, DaemonEnvironment env);
  ~Daemon();

  // Handles signals until SIGTERM/SIGINT, then shuts down. Returns the exit status (0).
  int run();

  // For tests and the control loop.
  void reload();
  void shutdown();
  int port() const;

  struct State;  // everything the daemon owns (daemon_state.h)

 private:
  struct ReloadPlan;
  explicit Daemon(std::unique_ptr<State> state);
  Result<ReloadPlan> check_reload();
  void apply_reload(ReloadPlan plan);
  void replace_group(std::shared_ptr<SyncGroup> next);
  std::unique_ptr<State> s_;
};

}  // namespace ps::sidecar::server
