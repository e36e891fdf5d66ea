#include "sidecar/sync/group_commit.h"

#include <chrono>
#include <vector>

#include "engine/base/mutex.h"

namespace ps::sidecar {

Result<engine::PromotionRecord> PromotionCommitter::promote(
    engine::PromotionRequest request, std::shared_ptr<const engine::Rules> rules,
    engine::TierChangeHook hook) {
  Entry mine{{std::move(request), std::move(hook)}, std::move(rules), std::nullopt};
  ps::MutexLock lock(mu_);
  queue_.push_back(&mine);
  while (!mine.result) {
    if (committing_) {
      done_cv_.wait(lock);
      continue;
    }
    // Lead: take what is queued (oldest first, one rules snapshot per batch).
    committing_ = true;
    std::deque<Entry*> batch;
    while (!queue_.empty() && batch.size() < max_batch_ &&
           (batch.empty() || queue_.front()->rules == batch.front()->rules)) {
      batch.push_back(queue_.front());
      queue_.pop_front();
    }
    lock.unlock();
    auto results = commit_batch(batch);
    lock.lock();
    // Results are handed over under the lock: the waiters read them under it.
    for (std::size_t i = 0; i < batch.size(); ++i) {
      committed_ += results[i].ok() ? 1 : 0;
      batch[i]->result = std::move(results[i]);
    }
    committing_ = false;
    ++batches_;
    done_cv_.notify_all();
  }
  return std::move(*mine.result);
}

std::vector<Result<engine::PromotionRecord>> PromotionCommitter::commit_batch(
    const std::deque<Entry*>& batch) {
  auto lease = ledgers_.acquire();
  if (!lease.ok()) {
    return std::vector<Result<engine::PromotionRecord>>(batch.size(), lease.status());
  }
  std::vector<engine::Ledger::BatchedPromotion> promotions;
  promotions.reserve(batch.size());
  for (const Entry* e : batch) promotions.push_back(e->promotion);
  std::vector<Result<engine::PromotionRecord>> results;
  {
    ps::MutexLock write(ledgers_.write_mutex());
    const auto start = std::chrono::steady_clock::now();
    results = lease->ledger().promote_batch(promotions, *batch.front()->rules);
    if (on_batch_) {
      on_batch_(batch.size(),
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
  }
  for (const auto& r : results) {
    const auto code = r.status().code();
    if (!r.ok() && code != Code::aborted && code != Code::failed_precondition &&
        code != Code::invalid_data) {
      lease->discard();  // the connection saw an error: do not reuse it
      break;
    }
  }
  return results;
}

std::size_t PromotionCommitter::batches() const {
  ps::MutexLock lock(mu_);
  return batches_;
}

std::size_t PromotionCommitter::promotions() const {
  ps::MutexLock lock(mu_);
  return committed_;
}

}  // namespace ps::sidecar
