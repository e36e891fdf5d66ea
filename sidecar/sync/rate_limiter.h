// A token bucket shared by everything that talks to Vault for sync (worker and reconciler
// threads), so the sidecar as a whole stays under sync.rate_limit_per_s requests per second.
//
// Waiting goes through the injected Clock: with a SimulatedClock a test reads the exact
// schedule (nothing at 999 ms, a token at 1000 ms) without sleeping. Thread-safe; waiters
// reserve their slot under the lock and sleep outside it, so the order is first come, first
// served and the rate holds across threads.
#pragma once

#include <chrono>
#include <mutex>

#include "engine/base/clock.h"
#include "engine/base/mutex.h"

namespace ps::sidecar {

class RateLimiter {
 public:
  // `per_second` 0 (or less) = unlimited. `burst` tokens at most are saved up while idle
  // (0 = one second's worth, at least 1). The bucket starts full.
  RateLimiter(double per_second, Clock& clock, double burst = 0);

  // Takes one token, sleeping (clock.sleep_for) until it is available.
  void acquire();
  // Takes one token if available now, without waiting.
  bool try_acquire();
  // How long acquire() would wait now (0 when a token is available).
  std::chrono::milliseconds wait_time() const;
  bool unlimited() const { return rate_ <= 0; }

 private:
  void refill(Clock::SteadyTime now) const REQUIRES(mu_);

  const double rate_;
  const double burst_;
  Clock& clock_;
  mutable ps::Mutex mu_;
  mutable double tokens_ GUARDED_BY(mu_);  // negative = reserved by waiters
  mutable Clock::SteadyTime last_refill_ GUARDED_BY(mu_);
};

}  // namespace ps::sidecar
