#include "sidecar/server/webhook_guard.h"

#include <algorithm>
#include <cmath>

namespace ps::sidecar::server {

UnauthenticatedGuard::Entry& UnauthenticatedGuard::touch(std::string_view peer,
                                                         Clock::SteadyTime now) {
  auto it = peers_.find(std::string(peer));
  if (it == peers_.end()) {
    if (limits_.max_peers > 0 && peers_.size() >= limits_.max_peers) {
      peers_.erase(lru_.back());
      lru_.pop_back();
    }
    lru_.emplace_front(peer);
    Entry e;
    e.tokens = limits_.burst;
    e.refilled = now;
    e.order = lru_.begin();
    it = peers_.emplace(std::string(peer), e).first;
    return it->second;
  }
  Entry& e = it->second;
  lru_.splice(lru_.begin(), lru_, e.order);
  const double elapsed = std::chrono::duration<double>(now - e.refilled).count();
  if (elapsed > 0) {
    e.tokens = std::min(limits_.burst, e.tokens + elapsed * limits_.rate_per_s);
    e.refilled = now;
  }
  return e;
}

std::optional<int> UnauthenticatedGuard::check(std::string_view peer) {
  if (limits_.rate_per_s <= 0) return std::nullopt;
  ps::MutexLock lock(mu_);
  const Entry& e = touch(peer, clock_.steady_now());
  if (e.tokens >= 1) return std::nullopt;
  const double wait = (1 - e.tokens) / limits_.rate_per_s;
  return std::max(1, static_cast<int>(std::ceil(std::min(wait, 86400.0))));
}

UnauthenticatedGuard::Sample UnauthenticatedGuard::rejected(std::string_view peer,
                                                            bool take_token) {
  ps::MutexLock lock(mu_);
  const auto now = clock_.steady_now();
  Entry& e = touch(peer, now);
  if (take_token && limits_.rate_per_s > 0) e.tokens = std::max(0.0, e.tokens - 1);
  Sample s;
  if (!e.logged_at || now - *e.logged_at >= limits_.log_interval) {
    s.log = true;
    s.suppressed = e.suppressed;
    e.suppressed = 0;
    e.logged_at = now;
  } else {
    ++e.suppressed;
  }
  return s;
}

std::size_t UnauthenticatedGuard::peers() const {
  ps::MutexLock lock(mu_);
  return peers_.size();
}

}  // namespace ps::sidecar::server
