// Wakes the sync worker after commits, coalesced: every commit calls request(); the thread in
// run() waits `delay` after the first request, then wakes the worker once for all of them.
//
// Why the delay: each worker pass costs two ledger write transactions (claim, finish). Under a
// burst of approvals, one pass per commit would double the fsyncs the approvals themselves need
// and queue them behind the worker; a short wait lets one pass take the whole burst.
//
// Thread-safe: request() and stop() from any thread; run() on one thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>

#include "engine/base/mutex.h"

namespace ps::sidecar {

class CommitWaker {
 public:
  CommitWaker(std::chrono::milliseconds delay, std::function<void()> wake)
      : delay_(delay), wake_(std::move(wake)) {}

  void request();
  // Until stop(): waits for a request, then `delay`, then calls wake.
  void run();
  void stop();

 private:
  const std::chrono::milliseconds delay_;
  const std::function<void()> wake_;
  ps::Mutex mu_;
  ps::CondVar cv_;
  bool pending_ GUARDED_BY(mu_) = false;
  bool stopping_ GUARDED_BY(mu_) = false;
};

}  // namespace ps::sidecar
