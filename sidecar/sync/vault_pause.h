// The sync workers' shared view of Vault as a whole: when a push meets a Vault-wide failure
// (sealed, down, 429, its own token rejected...), every worker of the group pauses until one
// deadline, and when it passes exactly one worker at a time probes with its next push.
//
// Who calls: SyncWorker (sidecar/sync/sync_worker.cpp) - one VaultPause per group of workers
// (SyncWorkerOptions::pause), so N workers send a sealed Vault no more requests than one.
// Promises: failures counts each Vault-wide failure once (a sibling that meets the same outage
// while already paused does not grow the backoff); at most one worker holds the probe; the
// probe is given back when its holder finds nothing to push. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

#include "engine/base/mutex.h"
#include "engine/base/clock.h"

namespace ps::sidecar {

class VaultPause {
 public:
  // May this worker push now? False while paused, or while another worker holds the probe.
  // After a pause has run out the first caller takes the probe (*probe = true) and pushes.
  bool may_push(Clock::SteadyTime now, const void* worker, bool* probe);
  // Gives the probe back without an answer from Vault (the holder had nothing to push).
  void release_probe(const void* worker);

  // A Vault-wide failure seen by `worker`. Returns the number of consecutive failures when this
  // call starts a new pause (the caller then picks its delay and calls pause_for), or nullopt
  // when a pause is already running (a sibling met the same outage).
  std::optional<std::int64_t> fail(Clock::SteadyTime now, const void* worker);
  void pause_for(Clock::SteadyTime until, std::string error);
  // Vault answered: true when this ended a pause (report it once).
  bool succeed();

  struct Snapshot {
    std::int64_t failures = 0;
    std::optional<Clock::SteadyTime> until;
    std::optional<std::string> last_error;
  };
  Snapshot snapshot() const;

 private:
  mutable ps::Mutex mu_;
  std::int64_t failures_ GUARDED_BY(mu_) = 0;
  std::optional<Clock::SteadyTime> until_ GUARDED_BY(mu_);
  std::optional<std::string> last_error_ GUARDED_BY(mu_);
  const void* prober_ GUARDED_BY(mu_) = nullptr;  // the worker holding the probe
};

}  // namespace ps::sidecar
