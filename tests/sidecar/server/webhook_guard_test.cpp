// The per-peer budget for unauthenticated webhook requests (sidecar/server/webhook_guard.h):
// a token bucket per address on the simulated clock, sampled logging, and a bounded table.
#include <boost/test/unit_test.hpp>

#include "sidecar/server/webhook_guard.h"
#include "tests/support/simulated_clock.h"

using namespace ps::sidecar::server;
using namespace std::chrono_literals;

namespace {

PeerLimits limits(double rate, double burst, std::size_t peers = 10000) {
  PeerLimits l;
  l.rate_per_s = rate;
  l.burst = burst;
  l.max_peers = peers;
  l.log_interval = 60s;
  return l;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(webhook_guard)

BOOST_AUTO_TEST_CASE(a_peer_is_heard_for_its_burst_then_waits_for_a_token) {
  ps::SimulatedClock clock;
  UnauthenticatedGuard guard(limits(1, 3), clock);
  for (int i = 0; i < 3; ++i) {
    BOOST_TEST(!guard.check("192.0.2.1").has_value());
    guard.rejected("192.0.2.1");
  }
  BOOST_TEST((guard.check("192.0.2.1") == std::optional<int>(1)));
  clock.advance(999ms);
  BOOST_TEST(guard.check("192.0.2.1").has_value());  // nothing at 999 ms
  clock.advance(1ms);
  BOOST_TEST(!guard.check("192.0.2.1").has_value());  // a token at 1000 ms
  // Another address has its own bucket.
  BOOST_TEST(!guard.check("192.0.2.2").has_value());
}

BOOST_AUTO_TEST_CASE(answering_429_costs_no_token_and_retry_after_says_when) {
  ps::SimulatedClock clock;
  UnauthenticatedGuard guard(limits(0.5, 1), clock);  // one token per 2 s
  guard.rejected("p");
  BOOST_TEST((guard.check("p") == std::optional<int>(2)));
  guard.rejected("p", false);  // the 429
  clock.advance(2s);
  BOOST_TEST(!guard.check("p").has_value());
}

BOOST_AUTO_TEST_CASE(the_bucket_never_holds_more_than_the_burst) {
  ps::SimulatedClock clock;
  UnauthenticatedGuard guard(limits(10, 2), clock);
  guard.check("p");
  clock.advance(1h);
  guard.rejected("p");
  guard.rejected("p");
  BOOST_TEST(guard.check("p").has_value());
}

BOOST_AUTO_TEST_CASE(rate_zero_never_throttles) {
  ps::SimulatedClock clock;
  UnauthenticatedGuard guard(limits(0, 1), clock);
  for (int i = 0; i < 100; ++i) guard.rejected("p");
  BOOST_TEST(!guard.check("p").has_value());
}

BOOST_AUTO_TEST_CASE(one_log_line_per_peer_per_interval_with_the_count_left_out) {
  ps::SimulatedClock clock;
  UnauthenticatedGuard guard(limits(0, 1), clock);
  auto first = guard.rejected("p");
  BOOST_TEST(first.log);
  BOOST_TEST(first.suppressed == 0);
  for (int i = 0; i < 41; ++i) BOOST_TEST(!guard.rejected("p").log);
  BOOST_TEST(guard.rejected("q").log);  // another peer is logged on its own
  clock.advance(59'999ms);
  BOOST_TEST(!guard.rejected("p").log);
  clock.advance(1ms);
  auto next = guard.rejected("p");
  BOOST_TEST(next.log);
  BOOST_TEST(next.suppressed == 42);
  BOOST_TEST(!guard.rejected("p").log);
}

BOOST_AUTO_TEST_CASE(the_table_is_capped_and_forgets_the_peer_seen_longest_ago) {
  ps::SimulatedClock clock;
  UnauthenticatedGuard guard(limits(1, 1, 16), clock);
  guard.rejected("attacker");  // its bucket is empty now
  for (int i = 0; i < 15; ++i) guard.rejected("peer-" + std::to_string(i));
  BOOST_TEST(guard.peers() == 16u);
  BOOST_TEST(guard.check("attacker").has_value());  // seen again: now the most recent
  guard.rejected("newcomer");                        // evicts peer-0, the least recent
  BOOST_TEST(guard.peers() == 16u);
  BOOST_TEST(guard.check("attacker").has_value());  // still remembered, still throttled
  for (int i = 0; i < 10000; ++i) guard.rejected("flood-" + std::to_string(i));
  BOOST_TEST(guard.peers() == 16u);
  // The flood pushed "attacker" out: it starts with a full bucket again (the price of a
  // bounded table, documented).
  BOOST_TEST(!guard.check("attacker").has_value());
}

BOOST_AUTO_TEST_SUITE_END()
