// Time and randomness as injected dependencies.
//
// Wall time (ledger timestamps, the 30-day window, Unix seconds in webhooks) and steady time
// (timeouts, backoff, schedules) are kept apart. Only the executables' main() construct a
// RealClock and a real random source; everything else receives a Clock& and a RandomSource so
// tests can use tests/support/simulated_clock.h and never sleep.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <thread>

#include "engine/base/mutex.h"

namespace ps {

class Clock {
 public:
  using WallTime = std::chrono::system_clock::time_point;
  using SteadyTime = std::chrono::steady_clock::time_point;

  virtual ~Clock() = default;
  virtual WallTime wall_now() const = 0;
  virtual SteadyTime steady_now() const = 0;
  // Blocks the caller for `d` of this clock's time. A simulated clock advances instead.
  virtual void sleep_for(std::chrono::milliseconds d) = 0;
  // Blocks until `cv` is notified or `d` of this clock's time has passed (a spurious return
  // is allowed: callers re-check their condition); `lock` is held again on return. A
  // simulated clock advances by `d` instead and returns at once.
  virtual void wait_for(CondVar& cv, MutexLock& lock, std::chrono::milliseconds d) = 0;
};

class RealClock final : public Clock {
 public:
  WallTime wall_now() const override { return std::chrono::system_clock::now(); }
  SteadyTime steady_now() const override { return std::chrono::steady_clock::now(); }
  void sleep_for(std::chrono::milliseconds d) override { std::this_thread::sleep_for(d); }
  void wait_for(CondVar& cv, MutexLock& lock, std::chrono::milliseconds d) override {
    cv.wait_for(lock, d);
  }
};

// A flag that one thread raises and another waits for, with the waiter's deadline in an
// injected Clock's time. Used by the sync workers to start a pass the moment a change is
// committed (and by the tests with a simulated clock, where a wait advances time instead).
class Wakeup {
 public:
  void notify() {
    {
      MutexLock lock(mu_);
      raised_ = true;
    }
    cv_.notify_all();
  }
  // Waits at most `d` of `clock`'s time; true when the flag was raised (it is lowered again).
  // `give_up()` is checked before each wait, without the lock held (it may call notify());
  // request_stop-style callers set their flag, then notify().
  bool wait_for(Clock& clock, std::chrono::milliseconds d, const std::function<bool()>& give_up) {
    const auto end = clock.steady_now() + d;
    for (;;) {
      if (give_up && give_up()) return false;
      MutexLock lock(mu_);
      if (!raised_) {
        const auto now = clock.steady_now();
        if (now >= end) return false;
        clock.wait_for(cv_, lock, std::chrono::ceil<std::chrono::milliseconds>(end - now));
      }
      if (raised_) {
        raised_ = false;
        return true;
      }
    }
  }

 private:
  Mutex mu_;
  CondVar cv_;
  bool raised_ GUARDED_BY(mu_) = false;
};

// A source of uniform doubles in [0, 1). Production uses a seeded std::mt19937_64 from
// std::random_device; tests pass a function returning fixed values.
using RandomSource = std::function<double()>;

inline RandomSource make_real_random() {
  auto engine = std::make_shared<std::mt19937_64>(std::random_device{}());
  auto mu = std::make_shared<std::mutex>();
  return [engine, mu]() {
    std::lock_guard<std::mutex> lock(*mu);
    return std::uniform_real_distribution<double>(0.0, 1.0)(*engine);
  };
}

}  // namespace ps
