// Group commit for promotions (used only by the tier-change service): concurrent callers' promotions are committed together by
// Ledger::promote_batch, so N approvals arriving at once cost one write transaction and one
// fsync instead of N (a commit is the expensive part of an approval).
//
// Leader/follower, no thread of its own: a caller queues its promotion; if no batch is being
// committed, it takes the queue (up to max_batch, all with the same rules) and commits it for
// everyone; otherwise it waits until a batch holding its promotion is done. Each caller gets
// exactly the result its own promotion would have had alone (see promote_batch).
// In-process writers are serialised on the pool's write mutex while a batch runs.
// Thread-safe.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "engine/base/mutex.h"
#include "engine/ledger/ledger.h"
#include "sidecar/sync/ledger_pool.h"

namespace ps::sidecar {

class PromotionCommitter {
 public:
  // `on_batch` (optional) is told each committed batch's size and commit time (metrics).
  explicit PromotionCommitter(LedgerPool& ledgers, std::size_t max_batch = 64,
                              std::function<void(std::size_t, double)> on_batch = {})
      : ledgers_(ledgers), max_batch_(max_batch), on_batch_(std::move(on_batch)) {}

  // Blocks until the promotion is committed (or refused, or the batch failed).
  Result<engine::PromotionRecord> promote(engine::PromotionRequest request,
                                                  std::shared_ptr<const engine::Rules> rules,
                                                  engine::TierChangeHook hook);

  // Batches committed so far and promotions in them (for tests and the benchmark's notes).
  std::size_t batches() const;
  std::size_t promotions() const;

 private:
  struct Entry {
    engine::Ledger::BatchedPromotion promotion;
    std::shared_ptr<const engine::Rules> rules;
    std::optional<Result<engine::PromotionRecord>> result;
  };
  // Runs outside mu_ (only the leader touches the batch's entries meanwhile).
  std::vector<Result<engine::PromotionRecord>> commit_batch(const std::deque<Entry*>& batch);

  LedgerPool& ledgers_;
  const std::size_t max_batch_;
  const std::function<void(std::size_t, double)> on_batch_;
  mutable ps::Mutex mu_;
  ps::CondVar done_cv_;
  std::deque<Entry*> queue_ GUARDED_BY(mu_);
  bool committing_ GUARDED_BY(mu_) = false;
  std::size_t batches_ GUARDED_BY(mu_) = 0;
  std::size_t committed_ GUARDED_BY(mu_) = 0;
};

}  // namespace ps::sidecar
