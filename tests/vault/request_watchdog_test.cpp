// RequestWatchdog (vault/request_watchdog.h): fires at a deadline unless disarmed first, and
// wakes its sleeping thread when a request is armed with a deadline earlier than the one it
// sleeps towards. Real steady time, like the watchdog itself: each wait is bounded by 10 s,
// far above the 20-50 ms deadlines used.
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <thread>

#include "tests/support/poll.h"
#include "vault/request_watchdog.h"

using ps::vault::RequestWatchdog;
using Steady = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

// True once `flag` is set (within poll_until's 10 s bound).
bool becomes_true(const std::atomic<bool>& flag) {
  return ps::testing::poll_until([&] { return flag.load(); });
}

}  // namespace

BOOST_AUTO_TEST_SUITE(request_watchdog)

BOOST_AUTO_TEST_CASE(an_armed_request_is_cut_at_its_deadline) {
  RequestWatchdog w;
  std::atomic<bool> fired{false};
  const auto armed_at = Steady::now();
  w.arm(armed_at + 20ms, [&] { fired = true; });
  BOOST_TEST(becomes_true(fired));
  BOOST_TEST((Steady::now() - armed_at >= 20ms));
  BOOST_TEST(w.disarm());  // reports the cut
}

BOOST_AUTO_TEST_CASE(a_disarmed_request_is_never_cut) {
  RequestWatchdog w;
  std::atomic<bool> fired{false};
  for (int i = 0; i < 100; ++i) {
    w.arm(Steady::now() + 50ms, [&] { fired = true; });
    BOOST_TEST(!w.disarm());
  }
  std::this_thread::sleep_for(100ms);  // past every deadline armed above
  BOOST_TEST(!fired.load());
}

// The thread sleeps towards the first request's 1 h deadline; the second request's deadline is
// earlier, so arming it must wake the thread or the cut would come an hour late.
BOOST_AUTO_TEST_CASE(an_earlier_deadline_wakes_a_thread_sleeping_towards_a_later_one) {
  RequestWatchdog w;
  std::atomic<bool> late{false};
  const auto far = Steady::now() + 1h;
  w.arm(far, [&] { late = true; });
  BOOST_REQUIRE(ps::testing::poll_until([&] { return w.sleeping_until() == far; }));
  BOOST_TEST(!w.disarm());
  std::atomic<bool> fired{false};
  w.arm(Steady::now() + 20ms, [&] { fired = true; });
  BOOST_TEST(becomes_true(fired));
  BOOST_TEST(!late.load());
}

// Successive requests' deadlines grow: the thread, asleep towards an earlier deadline, wakes
// at it, finds the later one and cuts that request on time.
BOOST_AUTO_TEST_CASE(a_later_deadline_is_kept_by_a_thread_sleeping_towards_an_earlier_one) {
  RequestWatchdog w;
  std::atomic<bool> first{false};
  w.arm(Steady::now() + 30ms, [&] { first = true; });
  BOOST_TEST(!w.disarm());
  std::atomic<bool> second{false};
  const auto deadline = Steady::now() + 60ms;
  w.arm(deadline, [&] { second = true; });
  BOOST_TEST(becomes_true(second));
  BOOST_TEST((Steady::now() >= deadline));
  BOOST_TEST(!first.load());
}

BOOST_AUTO_TEST_SUITE_END()
