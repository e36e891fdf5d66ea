#include "sidecar/sync/rate_limiter.h"

#include <algorithm>
#include <cmath>

#include "engine/base/mutex.h"

namespace ps::sidecar {

RateLimiter::RateLimiter(double per_second, Clock& clock, double burst)
    : rate_(per_second),
      burst_(burst > 0 ? burst : std::max(1.0, per_second)),
      clock_(clock),
      tokens_(burst > 0 ? burst : std::max(1.0, per_second)),
      last_refill_(clock.steady_now()) {}

void RateLimiter::refill(Clock::SteadyTime now) const {
  if (now <= last_refill_) return;
  const double seconds = std::chrono::duration<double>(now - last_refill_).count();
  tokens_ = std::min(burst_, tokens_ + seconds * rate_);
  last_refill_ = now;
}

void RateLimiter::acquire() {
  if (unlimited()) return;
  std::chrono::milliseconds wait{0};
  {
    ps::MutexLock lock(mu_);
    refill(clock_.steady_now());
    tokens_ -= 1.0;  // reserve: later callers queue behind this one
    if (tokens_ < 0) {
      wait = std::chrono::milliseconds(
          static_cast<std::int64_t>(std::ceil(-tokens_ / rate_ * 1000.0 - 1e-6)));
    }
  }
  if (wait.count() > 0) clock_.sleep_for(wait);
}

bool RateLimiter::try_acquire() {
  if (unlimited()) return true;
  ps::MutexLock lock(mu_);
  refill(clock_.steady_now());
  if (tokens_ < 1.0) return false;
  tokens_ -= 1.0;
  return true;
}

std::chrono::milliseconds RateLimiter::wait_time() const {
  if (unlimited()) return std::chrono::milliseconds{0};
  ps::MutexLock lock(mu_);
  refill(clock_.steady_now());
  if (tokens_ >= 1.0) return std::chrono::milliseconds{0};
  return std::chrono::milliseconds(
      static_cast<std::int64_t>(std::ceil((1.0 - tokens_) / rate_ * 1000.0 - 1e-6)));
}

}  // namespace ps::sidecar
