// ps::Wakeup (engine/base/clock.h), the sync workers' wake-up: a notify before the wait is not
// lost, a wait without one lasts its whole time in the clock's time (a simulated clock
// advances instead of sleeping), give_up ends it, and a notify from another thread ends a
// real-time wait long before its deadline.
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <thread>

#include "engine/base/clock.h"
#include "tests/support/simulated_clock.h"

namespace {

using namespace std::chrono_literals;

BOOST_AUTO_TEST_SUITE(wakeup)

BOOST_AUTO_TEST_CASE(a_notify_before_the_wait_is_kept_and_consumed_once) {
  ps::SimulatedClock clock;
  ps::Wakeup w;
  w.notify();
  const auto start = clock.steady_now();
  BOOST_TEST(w.wait_for(clock, 1000ms, {}));
  BOOST_TEST((clock.steady_now() == start));  // no time passed
  BOOST_TEST(!w.wait_for(clock, 1000ms, {}));  // the flag was lowered
  BOOST_TEST((clock.steady_now() - start == 1000ms));
}

BOOST_AUTO_TEST_CASE(give_up_ends_the_wait_without_a_notify) {
  ps::SimulatedClock clock;
  ps::Wakeup w;
  int asked = 0;
  BOOST_TEST(!w.wait_for(clock, 1h, [&] { return ++asked >= 1; }));
  BOOST_TEST(asked == 1);
  BOOST_TEST(clock.sleeps().empty());  // gave up before waiting
}

BOOST_AUTO_TEST_CASE(a_notify_from_another_thread_ends_a_real_wait_early) {
  ps::RealClock clock;
  ps::Wakeup w;
  std::thread other([&] {
    std::this_thread::sleep_for(20ms);
    w.notify();
  });
  const auto start = std::chrono::steady_clock::now();
  const bool woken = w.wait_for(clock, 60s, {});
  const auto waited = std::chrono::steady_clock::now() - start;
  other.join();
  BOOST_TEST(woken);
  BOOST_TEST((waited < 30s));  // the deadline was a minute: the notify ended it
}

BOOST_AUTO_TEST_CASE(give_up_may_notify_without_deadlocking) {
  ps::SimulatedClock clock;
  ps::Wakeup w;
  bool notified = false;
  // The sync worker's should_stop callback may queue work and call wake() itself.
  BOOST_TEST(w.wait_for(clock, 1h, [&] {
    if (!notified) {
      notified = true;
      w.notify();
    }
    return false;
  }));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
