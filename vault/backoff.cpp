#include "vault/backoff.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace ps::vault {

Status BackoffPolicy::validate() const {
  auto invalid = [](const char* why) { return Status(Code::invalid_argument, why); };
  if (initial.count() <= 0) return invalid("retry.initial must be positive");
  if (!(multiplier >= 1.0) || !std::isfinite(multiplier)) {
    return invalid("retry.multiplier must be >= 1");
  }
  if (cap < initial) return invalid("retry.cap must be >= retry.initial");
  if (max_total.count() < 0) return invalid("retry.max_total must be >= 0 (0 = forever)");
  if (max_retry_after.count() < 0) return invalid("retry.max_retry_after must be >= 0");
  return Status::success();
}

Backoff::Backoff(BackoffPolicy policy, RandomSource random)
    : policy_(std::move(policy)), random_(std::move(random)) {}

std::chrono::milliseconds Backoff::ceiling(unsigned n) const {
  const double cap = static_cast<double>(policy_.cap.count());
  double value = static_cast<double>(policy_.initial.count()) *
                 std::pow(policy_.multiplier, static_cast<double>(n));
  if (!std::isfinite(value) || value > cap) value = cap;
  return std::chrono::milliseconds{static_cast<std::int64_t>(value)};
}

std::chrono::milliseconds Backoff::next() {
  const auto limit = ceiling(retries_);
  if (retries_ < 4096) ++retries_;  // ceiling() is capped long before; keep the count bounded
  double r = random_ ? random_() : 1.0;
  r = std::clamp(r, 0.0, 1.0);
  return std::chrono::milliseconds{
      static_cast<std::int64_t>(std::floor(r * static_cast<double>(limit.count())))};
}

}  // namespace ps::vault
