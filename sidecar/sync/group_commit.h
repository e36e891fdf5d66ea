// Group commit for promotions (used only by the tier-change service): concurrent callers' promotions are committed together by
// Ledger::promote_batch, so N approvals arriving at once cost one write transaction and one
// fsync instead of N (a commit is the expensive part of an approval). The sync workers'
// finishes (engine::finish_pushes) join the same queue and ride along with the next batch, so
// in serve every in-process ledger write of the approval path shares one queue and one
// commit instead of racing for SQLite's lock.
//
// Leader/follower, no thread of its own: a caller queues its promotion or finish; if no batch
// is being committed, it takes the queue (up to max_batch promotions, all with the same rules,
// and every finish) and commits it for everyone; otherwise it waits until a batch holding its
// entry is done. Each caller gets exactly the result its own entry would have had alone (see
// promote_batch).
// In-process writers are serialised on the pool's write mutex while a batch runs.
// Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <vector>

#include "engine/base/clock.h"
#include "engine/base/mutex.h"
#include "engine/ledger/ledger.h"
#include "engine/ledger/outbox.h"
#include "sidecar/sync/ledger_pool.h"

namespace ps::sidecar {

class PromotionCommitter {
 public:
  // `on_batch` (optional) is told each committed batch's promotion count and commit time
  // (metrics; batches of finishes alone are not reported). `finish_hold`: while approvals are
  // flowing (a batch of promotions committed less than finish_hold before, in `clock`'s steady
  // time), a finish waits up to finish_hold (Clock::wait_for) for the next promotion to ride
  // along with, instead of a commit of its own; 0 = never waits.
  PromotionCommitter(LedgerPool& ledgers, Clock& clock, std::size_t max_batch = 64,
                     std::function<void(std::size_t, double)> on_batch = {},
                     std::chrono::milliseconds finish_hold = {})
      : ledgers_(ledgers),
        clock_(clock),
        max_batch_(max_batch),
        on_batch_(std::move(on_batch)),
        finish_hold_(finish_hold) {}

  // Blocks until the promotion is committed (or refused, or the batch failed).
  Result<engine::PromotionRecord> promote(engine::PromotionRequest request,
                                                  std::shared_ptr<const engine::Rules> rules,
                                                  engine::TierChangeHook hook);

  // Blocks until a sync worker's outcomes are recorded (engine::finish_pushes; errors as
  // Outbox::finish). Nothing to record: returns at once.
  Result<std::vector<engine::FinishResult>> finish(const std::vector<engine::PushOutcome>& outcomes,
                                                   std::string_view owner, engine::WallTime now);

  // Batches committed so far (with finishes alone too) and promotions in them (for tests and
  // the benchmark's notes).
  std::size_t batches() const;
  std::size_t promotions() const;
  std::size_t queued() const;  // entries waiting for a batch (tests)

 private:
  struct Finish {
    const std::vector<engine::PushOutcome>* outcomes = nullptr;
    std::string_view owner;
    engine::WallTime now;
    std::optional<Result<std::vector<engine::FinishResult>>> result;
  };
  struct Entry {
    // A promotion (rules set) or a finish (finish set).
    engine::Ledger::BatchedPromotion promotion;
    std::shared_ptr<const engine::Rules> rules;
    std::optional<Result<engine::PromotionRecord>> result;
    Finish* finish = nullptr;
    bool done = false;
  };
  // Queues `mine` and returns once a batch holding it is committed (leading one if none runs).
  void run(Entry& mine);
  // For a finish queued at `queued_at`: how much longer to wait for a promotion to ride along
  // with (see finish_hold), or nullopt to lead now.
  std::optional<std::chrono::milliseconds> hold_for(Clock::SteadyTime queued_at) const
      REQUIRES(mu_);
  // The next batch, oldest first: promotions while they share the first one's rules (up to
  // max_batch_), and every queued finish.
  std::vector<Entry*> take_batch() REQUIRES(mu_);
  // Runs outside mu_ (only the leader touches the batch's entries meanwhile). True when the
  // batch held promotions.
  bool commit_batch(const std::vector<Entry*>& batch);

  LedgerPool& ledgers_;
  Clock& clock_;
  const std::size_t max_batch_;
  const std::function<void(std::size_t, double)> on_batch_;
  const std::chrono::milliseconds finish_hold_;
  mutable ps::Mutex mu_;
  ps::CondVar done_cv_;
  std::deque<Entry*> queue_ GUARDED_BY(mu_);
  bool committing_ GUARDED_BY(mu_) = false;
  // When the last batch with promotions was committed; nullopt before the first.
  std::optional<Clock::SteadyTime> last_promotions_ GUARDED_BY(mu_);
  std::size_t batches_ GUARDED_BY(mu_) = 0;
  std::size_t committed_ GUARDED_BY(mu_) = 0;
};

}  // namespace ps::sidecar
