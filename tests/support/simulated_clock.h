// A clock for tests that only moves when told to (the production Clock interface is in
// engine/base/clock.h). sleep_for() advances it by the requested amount and records the
// request, so a retry loop can be run to completion in a test and its schedule read back from
// sleeps(). Thread-safe.
#pragma once

#include <chrono>
#include <mutex>
#include <vector>

#include "engine/base/clock.h"
#include "engine/base/mutex.h"

namespace ps {

class SimulatedClock final : public Clock {
 public:
  explicit SimulatedClock(WallTime start = WallTime{std::chrono::seconds{1'800'000'000}})
      : wall_(start), steady_(SteadyTime{std::chrono::hours{1}}) {}

  WallTime wall_now() const override {
    ps::MutexLock lock(mu_);
    return wall_;
  }
  SteadyTime steady_now() const override {
    ps::MutexLock lock(mu_);
    return steady_;
  }
  void sleep_for(std::chrono::milliseconds d) override {
    ps::MutexLock lock(mu_);
    sleeps_.push_back(d);
    wall_ += d;
    steady_ += d;
  }
  // Like sleep_for: a wait in simulated time passes at once.
  void wait_for(CondVar&, MutexLock&, std::chrono::milliseconds d) override { sleep_for(d); }
  void advance(std::chrono::milliseconds d) {
    ps::MutexLock lock(mu_);
    wall_ += d;
    steady_ += d;
  }
  std::vector<std::chrono::milliseconds> sleeps() const {
    ps::MutexLock lock(mu_);
    return sleeps_;
  }

 private:
  mutable ps::Mutex mu_;
  WallTime wall_ GUARDED_BY(mu_);
  SteadyTime steady_ GUARDED_BY(mu_);
  std::vector<std::chrono::milliseconds> sleeps_ GUARDED_BY(mu_);
};

}  // namespace ps
