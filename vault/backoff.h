// Exponential backoff with full jitter: a pure object, the caller does the waiting.
//
// Retry n (0-based) waits random() * min(cap, initial * multiplier^n), where random() is the
// injected RandomSource (uniform in [0, 1)). Defaults follow Vault Agent's auto-auth: 1 s
// doubling up to 5 minutes. Stopping rules (max_total, max_attempts) are applied by the retry
// loop (vault/retry.h), not here.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "engine/base/clock.h"
#include "engine/base/status.h"

namespace ps::vault {

struct BackoffPolicy {
  std::chrono::milliseconds initial{1000};
  double multiplier = 2.0;
  std::chrono::milliseconds cap{std::chrono::minutes{5}};
  // Time from the first attempt after which no further attempt is started; 0 = forever.
  std::chrono::milliseconds max_total{0};
  // Attempts in all, the first included; 0 = unlimited. (VAULT_MAX_RETRIES=n sets n + 1.)
  unsigned max_attempts = 0;
  // A Retry-After longer than this is cut to it, so a confused server cannot park us for days.
  std::chrono::milliseconds max_retry_after{std::chrono::minutes{5}};

  // ok when usable, else invalid_argument with the reason (names the knob).
  Status validate() const;
};

class Backoff {
 public:
  Backoff(BackoffPolicy policy, RandomSource random);

  // min(cap, initial * multiplier^n) for retry n (0-based); never overflows.
  std::chrono::milliseconds ceiling(unsigned n) const;
  // The jittered delay before the next retry; counts the retry.
  std::chrono::milliseconds next();
  // After a success: the next delay starts again from `initial`.
  void reset() { retries_ = 0; }
  unsigned retries() const { return retries_; }
  const BackoffPolicy& policy() const { return policy_; }

 private:
  BackoffPolicy policy_;
  RandomSource random_;
  unsigned retries_ = 0;
};

}  // namespace ps::vault
