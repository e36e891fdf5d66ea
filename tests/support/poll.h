// poll_until: for a test that waits for another thread or process to reach a state the test
// can observe (a queue length, a lock, a sleep begun, a metric), instead of sleeping a guessed
// time. Header-only, so any test target can use it without linking a support library.
#pragma once

#include <chrono>
#include <thread>

namespace ps::testing {

// Calls `done` until it returns true or `bound` has passed, pausing `pause` between calls
// (zero: a yield, for in-process state; longer for a state that costs a request to read);
// returns its last answer (false: the state was not reached within the bound).
template <class Done>
bool poll_until(Done done, std::chrono::steady_clock::duration bound = std::chrono::seconds{10},
                std::chrono::steady_clock::duration pause = {}) {
  const auto end = std::chrono::steady_clock::now() + bound;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= end) return done();
    if (pause.count() > 0) {
      std::this_thread::sleep_for(pause);
    } else {
      std::this_thread::yield();
    }
  }
  return true;
}

}  // namespace ps::testing
