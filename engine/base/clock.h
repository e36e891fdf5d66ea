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
};

class RealClock final : public Clock {
 public:
  WallTime wall_now() const override { return std::chrono::system_clock::now(); }
  SteadyTime steady_now() const override { return std::chrono::steady_clock::now(); }
  void sleep_for(std::chrono::milliseconds d) override { std::this_thread::sleep_for(d); }
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
