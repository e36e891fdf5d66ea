#include "vault/request_watchdog.h"

namespace ps::vault {

RequestWatchdog::~RequestWatchdog() {
  {
    ps::MutexLock lock(mu_);
    quit_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

// Deadlines of successive requests only grow, so the thread, already asleep until an earlier
// one, is woken only when this deadline comes before the end of its sleep: one wake-up per
// request timeout instead of a context switch per request.
void RequestWatchdog::arm(Deadline deadline, std::function<void()> fire) {
  bool wake = false;
  {
    ps::MutexLock lock(mu_);
    deadline_ = deadline;
    fire_ = std::move(fire);
    fired_ = false;
    if (!thread_.joinable()) thread_ = std::thread([this] { loop(); });
    wake = !sleeping_until_ || deadline < *sleeping_until_;
  }
  if (wake) cv_.notify_all();
}

std::optional<RequestWatchdog::Deadline> RequestWatchdog::sleeping_until() {
  ps::MutexLock lock(mu_);
  return sleeping_until_;
}

bool RequestWatchdog::disarm() {
  ps::MutexLock lock(mu_);
  deadline_.reset();
  fire_ = nullptr;
  return fired_;
}

void RequestWatchdog::loop() {
  ps::MutexLock lock(mu_);
  while (!quit_) {
    if (!deadline_) {
      sleeping_until_.reset();
      cv_.wait(lock);
      continue;
    }
    if (std::chrono::steady_clock::now() < *deadline_) {
      sleeping_until_ = *deadline_;
      cv_.wait_until(lock, *deadline_);
      sleeping_until_.reset();
      continue;  // re-read: disarmed, re-armed or quit meanwhile
    }
    deadline_.reset();
    fired_ = true;
    if (fire_) fire_();  // under the lock: disarm() waits for it (see the header)
    fire_ = nullptr;
  }
}

}  // namespace ps::vault
