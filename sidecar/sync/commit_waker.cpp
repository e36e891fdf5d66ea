#include "sidecar/sync/commit_waker.h"

#include "engine/base/mutex.h"

namespace ps::sidecar {

void CommitWaker::request() {
  {
    ps::MutexLock lock(mu_);
    if (pending_) return;
    pending_ = true;
  }
  cv_.notify_all();
}

void CommitWaker::stop() {
  {
    ps::MutexLock lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
}

void CommitWaker::run() {
  ps::MutexLock lock(mu_);
  for (;;) {
    while (!pending_ && !stopping_) cv_.wait(lock);
    if (stopping_) return;
    // Commits arriving during the delay join this wake-up (pending_ stays set).
    const auto deadline = std::chrono::steady_clock::now() + delay_;
    while (!stopping_ && cv_.wait_until(lock, deadline) != std::cv_status::timeout) {
    }
    if (stopping_) return;
    pending_ = false;
    lock.unlock();
    wake_();
    lock.lock();
  }
}

}  // namespace ps::sidecar
