#include "sidecar/sync/commit_waker.h"

namespace ps::sidecar {

void CommitWaker::request() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (pending_) return;
    pending_ = true;
  }
  cv_.notify_all();
}

void CommitWaker::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
}

void CommitWaker::run() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return pending_ || stopping_; });
    if (stopping_) return;
    // Commits arriving during the delay join this wake-up (pending_ stays set).
    if (cv_.wait_for(lock, delay_, [this] { return stopping_; })) return;
    pending_ = false;
    lock.unlock();
    wake_();
    lock.lock();
  }
}

}  // namespace ps::sidecar
