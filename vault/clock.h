// Time and randomness as injected dependencies.
//
// Wall time (ledger timestamps, the 30-day window, Unix seconds in webhooks) and steady time
// (timeouts, backoff, schedules) are kept apart. Only sidecar/main.cpp and the executables
// construct a RealClock; everything else receives a Clock& so tests can use SimulatedClock
// and never sleep.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

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

// A clock that only moves when told to. sleep_for() advances it by the requested amount and
// records the request, so a retry loop can be run to completion in a test and its schedule
// read back from sleeps(). Thread-safe.
class SimulatedClock final : public Clock {
 public:
  explicit SimulatedClock(WallTime start = WallTime{std::chrono::seconds{1'800'000'000}})
      : wall_(start), steady_(SteadyTime{std::chrono::hours{1}}) {}

  WallTime wall_now() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return wall_;
  }
  SteadyTime steady_now() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return steady_;
  }
  void sleep_for(std::chrono::milliseconds d) override {
    std::lock_guard<std::mutex> lock(mu_);
    sleeps_.push_back(d);
    wall_ += d;
    steady_ += d;
  }
  void advance(std::chrono::milliseconds d) {
    std::lock_guard<std::mutex> lock(mu_);
    wall_ += d;
    steady_ += d;
  }
  std::vector<std::chrono::milliseconds> sleeps() const {
    std::lock_guard<std::mutex> lock(mu_);
    return sleeps_;
  }

 private:
  mutable std::mutex mu_;
  WallTime wall_;         // guarded by mu_
  SteadyTime steady_;     // guarded by mu_
  std::vector<std::chrono::milliseconds> sleeps_;  // guarded by mu_
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
