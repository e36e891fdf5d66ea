// The sync worker: takes due outbox rows and makes Vault hold each agent's desired
// token_policies (architecture "Data flow" step 3).
//
// A pass (run_once) repeats until no row is due: claim a batch (demotions first, then the
// oldest change; engine::Outbox::claim_due leases them, or just reads them when serve's tier
// change handed them to this worker, see handoff()), push each row, record the batch's
// outcomes in one ledger transaction (engine::Outbox::finish, or options.finish: serve's group
// commit), then report them (SyncEvents, log). A push:
//   1. reads the role's token_policies (not when roles.exclusive: the list is then exactly
//      the desired one);
//   2. computes the list to write (DesiredState::merged) and writes it, unless the role
//      already holds it;
//   3. reads it back; the row is synced only if the read-back equals what was written and the
//      row was not changed meanwhile (fencing by revision, see engine/outbox.h).
// Errors decide (vault/error.h codes):
//   - the agent's own problem (role_missing, permission_denied, invalid_request, not_found,
//     bad_response, unexpected_status, invalid_argument): the row is parked (failed) with the
//     reason; the reconciler retries it. With roles.missing_role = create, a missing role is
//     created instead.
//   - Vault as a whole (transport, timeout, sealed, standby, 429, 412, 5xx, own token
//     rejected or unobtainable, TLS): the row is retried on its own schedule (full jitter,
//     Retry-After honoured) AND the whole worker pauses (sync.backoff, half-fixed jitter, at
//     least Retry-After) before probing again with a single push, so 1,000 pending agents do
//     not each hammer a sealed Vault. The rest of the batch is released untouched.
//   - a read-back that differs (someone wrote the role during the push): retried on its own
//     schedule.
// Every Vault request first takes a token from the shared RateLimiter.
//
// Leases (sidecar/sync/lease.h): before every Vault write (a policy write
// or a role create) the worker re-checks its claim and renews the lease when less than twice
// the request deadline is left; a claim another worker has taken over is not written - the
// row is left to that worker (stats.lease_lost). And a batch is cut while it runs: a row
// (but the batch's first) is started only with at least kRequestsPerPush request deadlines of
// lease left; the rest are released and claimed again at once under a fresh lease.
//
// Restarts: rows pending or leased by a dead process are picked up again; writes are
// idempotent (the same generation writes the same list).
//
// Threading: run_once() and run() are called from one thread; wake() and request_stop() from
// any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "engine/ledger/outbox.h"
#include "engine/base/status.h"
#include "sidecar/config/log.h"
#include "sidecar/config/vault_setup.h"  // VaultApiFactory
#include "sidecar/sync/desired_state.h"
#include "sidecar/sync/events.h"
#include "sidecar/sync/outbox_hook.h"
#include "sidecar/sync/rate_limiter.h"
#include "sidecar/sync/revocation_runner.h"
#include "sidecar/sync/vault_pause.h"
#include "sidecar/config/sync_settings.h"
#include "vault/api.h"
#include "engine/base/clock.h"

namespace ps::sidecar {

// Opens the ledger's outbox (usually engine::Outbox::open with the configured path).
using OutboxFactory = std::function<Result<std::unique_ptr<engine::Outbox>>()>;

struct SyncWorkerOptions {
  // Shared with the reconciler (and other workers in this process); null = a limiter of
  // config.rate_limit_per_s for this worker alone.
  std::shared_ptr<RateLimiter> limiter;
  std::string owner;  // lease owner id; empty = this_process_lease_owner()
  // Null = lease_owner_is_dead (sidecar/sync/lease.h).
  std::function<bool(std::string_view)> owner_is_dead;
  Checkpoint checkpoint;  // test crash points: sync.after_claim, sync.after_write,
                          // sync.before_finish
  // The revocation steps (engine/ledger/revocation_steps.h), carried out after the policy
  // pushes of each pass. Empty: the worker does not do them.
  StepsFactory open_steps;
  // The whole deadline of one Vault request (vault.timeout_s): sizes the lease checks above.
  std::chrono::milliseconds vault_request_deadline{std::chrono::seconds{60}};
  // Shared by the workers of one group so they pause together and probe one at a time; null =
  // this worker's own.
  std::shared_ptr<VaultPause> pause;
  // One of several workers of this process (sync.workers): it claims only the agents of its
  // partition (engine::agent_partition), so no agent is worked by two workers at once.
  std::uint32_t partition = 0;
  std::uint32_t partitions = 1;
  // Records a batch's outcomes (as engine::Outbox::finish). Null: this worker's own
  // Outbox::finish. serve passes TierChangeService::record_pushes, so finishes share the
  // approvals' group commit.
  std::function<Result<std::vector<engine::FinishResult>>(
      const std::vector<engine::PushOutcome>&, std::string_view owner, engine::WallTime now)>
      finish;
};

struct PassStats {
  std::int64_t claimed = 0;
  std::int64_t synced = 0;
  std::int64_t retried = 0;
  std::int64_t parked = 0;
  std::int64_t superseded = 0;
  std::int64_t released = 0;
  std::int64_t lease_lost = 0;     // claims another worker took over before our write
  std::int64_t steps_done = 0;     // revocation steps finished
  std::int64_t steps_pending = 0;  // revocation steps retried or parked
  bool paused = false;  // the pass ended because Vault is unavailable
};

// What the worker knows about Vault right now (health checks).
struct WorkerHealth {
  bool vault_available = true;
  std::int64_t consecutive_failures = 0;
  std::optional<std::string> last_error;      // "code: message"
  std::optional<Clock::SteadyTime> paused_until;
};

class SyncWorker {
 public:
  SyncWorker(OutboxFactory open_outbox, VaultApiFactory make_vault,
             std::shared_ptr<const DesiredState> desired, SyncConfig config, Clock& clock,
             RandomSource random, Logger& log, SyncEvents& events,
             SyncWorkerOptions options = {});
  ~SyncWorker();
  SyncWorker(const SyncWorker&) = delete;
  SyncWorker& operator=(const SyncWorker&) = delete;

  // One pass over the due rows (see above). Returns early, with stats.paused, while Vault is
  // unavailable. Errors: the ledger could not be opened or written (the pass's claims are
  // released when possible).
  Result<PassStats> run_once();

  // Runs passes until should_stop() (or request_stop()): after a pass, waits
  // config.poll_interval, the end of a pause, or a wake() - whichever comes first. A stop
  // finishes the push in progress and records it; unpushed claims are released.
  void run(const std::function<bool()>& should_stop);

  // A new row was committed (after promote/demote): start a pass now.
  void wake();
  void request_stop();

  // For the tier change that queues a push of this worker's partition: this worker's owner
  // id and lease, so the change's outbox row is written already leased to it and its next
  // pass takes the row without a claim transaction (engine::Outbox::claim_due). Nullopt once
  // a stop was asked. A worker retires its owner id when run() returns and when destroyed
  // (sidecar/sync/lease.h), so rows handed to it late are broken at once by its successor.
  std::optional<Handoff> handoff() const;

  WorkerHealth health() const;

 private:
  engine::PushOutcome push(const engine::OutboxRow& row, bool* vault_down);
  // Before a Vault write for `row` (see Leases above): true when the claim is still ours.
  // False (lease_lost_ set) when it is lost or the ledger could not say.
  bool hold_lease(const engine::OutboxRow& row);
  // The row given back unpushed (its lease dropped at finish).
  engine::PushOutcome released(const engine::OutboxRow& row) const;
  // One claimed batch: each row pushed in order (or released once the lease runs short, the
  // group pauses or a stop is asked), then one finish transaction and the reports. Sets
  // *vault_down when Vault failed as a whole. Errors: the ledger (finish) failed.
  Status push_batch(const std::vector<engine::OutboxRow>& rows, PassStats& stats,
                    bool* vault_down);
  engine::PushOutcome classify_failure(const engine::OutboxRow& row, const vault::Error& error,
                                       bool wrote, bool* vault_down);
  engine::PushOutcome create_role(const engine::OutboxRow& row, const vault::RoleName& role,
                                  bool* vault_down);
  engine::PushOutcome verify(const engine::OutboxRow& row, const vault::RoleName& role,
                             const PolicyList& written, bool wrote, bool* vault_down);
  void enter_pause(const vault::Error& error);
  void leave_pause();
  std::chrono::milliseconds row_backoff(std::int64_t attempts) const;
  void report(const engine::OutboxRow& row, const engine::PushOutcome& outcome,
              const engine::FinishResult& result, std::chrono::milliseconds latency,
              const PushStages& stages, PassStats& stats);
  bool stopping() const { return stop_.load(); }
  void interruptible_wait(std::chrono::milliseconds d, const std::function<bool()>& should_stop);
  vault::VaultApi& api();

  OutboxFactory open_outbox_;
  VaultApiFactory make_vault_;
  std::shared_ptr<const DesiredState> desired_;
  SyncConfig config_;
  Clock& clock_;
  RandomSource random_;
  Logger& log_;
  SyncEvents& events_;
  SyncWorkerOptions options_;

  // One batch of revocation steps; true when there were any.
  engine::ClaimRequest claim_request() const;
  Result<bool> run_steps(PassStats& stats, bool* vault_down);

  std::unique_ptr<engine::Outbox> outbox_;  // worker thread only
  std::unique_ptr<RevocationRunner> steps_;  // worker thread only; null without open_steps
  std::unique_ptr<vault::VaultApi> api_;    // worker thread only
  std::int64_t since_prune_ = 0;            // worker thread only
  engine::WallTime lease_until_{};          // worker thread only: the row being pushed
  bool lease_lost_ = false;                 // worker thread only: the row being pushed
  PushStages stages_;                       // worker thread only: the row being pushed

  std::atomic<bool> stop_{false};
  Wakeup wakeup_;  // wake() and request_stop() end run()'s wait at once

  std::shared_ptr<VaultPause> pause_;  // shared by the group's workers
};

}  // namespace ps::sidecar
