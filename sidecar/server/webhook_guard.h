// What the approval webhook does with requests it cannot authenticate (a missing, stale or
// forged signature; the webhook disabled): a token bucket per peer address and sampled
// logging, so a flood of forged requests costs a counter and a map lookup each - never a
// durable audit write, never a log line each.
//
// Who calls it: ApprovalWebhook (sidecar/server/webhook.cpp), keyed by
// WebhookHttpRequest::peer, which the listener fills with the client's IP address.
//
// Promises:
//  - check(peer) before the signature is verified: nullopt when the peer may be heard, else
//    the seconds until its bucket holds a token again (>= 1; the webhook answers 429 with that
//    Retry-After). With rate_per_s == 0 nobody is ever throttled.
//  - rejected(peer) after a pre-authentication rejection: takes a token from the peer's
//    bucket (not for the 429 itself), and says whether to log this one: the first rejection of a peer in each
//    log_interval is logged, carrying how many of that peer's were left unlogged since the last
//    logged one; the others are only counted.
//  - memory is bounded: at most max_peers peers are tracked; a new peer beyond that evicts
//    the one seen longest ago (its bucket starts full again if it comes back).
//  - time is the injected Clock's steady time (tests advance a SimulatedClock).
// Thread-safe (one mutex; every call is O(1)).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "engine/base/clock.h"
#include "engine/base/mutex.h"

namespace ps::sidecar::server {

struct PeerLimits {
  double rate_per_s = 5;        // tokens a peer's bucket regains per second; 0: no limit
  double burst = 20;            // bucket size: rejections a peer may cause back to back
  std::size_t max_peers = 10000;
  std::chrono::milliseconds log_interval{60'000};
};

class UnauthenticatedGuard {
 public:
  UnauthenticatedGuard(PeerLimits limits, Clock& clock) : limits_(limits), clock_(clock) {}

  std::optional<int> check(std::string_view peer);

  struct Sample {
    bool log = false;             // log this rejection
    std::int64_t suppressed = 0;  // the peer's rejections not logged since its last logged one
  };
  // take_token false: a 429 answered after check() (the bucket is empty already; answering it
  // costs no token, so a peer that honours Retry-After is heard again then).
  Sample rejected(std::string_view peer, bool take_token = true);

  std::size_t peers() const;  // peers tracked now (<= max_peers)

 private:
  struct Entry {
    double tokens = 0;
    Clock::SteadyTime refilled;
    std::optional<Clock::SteadyTime> logged_at;
    std::int64_t suppressed = 0;
    std::list<std::string>::iterator order;  // position in lru_
  };
  // The peer's entry, created (full bucket) or moved to the front, and refilled to now.
  Entry& touch(std::string_view peer, Clock::SteadyTime now) REQUIRES(mu_);

  const PeerLimits limits_;
  Clock& clock_;
  mutable ps::Mutex mu_;
  std::unordered_map<std::string, Entry> peers_ GUARDED_BY(mu_);
  std::list<std::string> lru_ GUARDED_BY(mu_);  // most recent first
};

}  // namespace ps::sidecar::server
