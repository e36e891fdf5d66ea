#include "sidecar/sync/group_commit.h"

#include <chrono>
#include <vector>

#include "engine/base/mutex.h"

namespace ps::sidecar {

Result<engine::PromotionRecord> PromotionCommitter::promote(
    engine::PromotionRequest request, std::shared_ptr<const engine::Rules> rules,
    engine::TierChangeHook hook) {
  Entry mine{{std::move(request), std::move(hook)}, std::move(rules), std::nullopt};
  run(mine);
  return std::move(*mine.result);
}

Result<std::vector<engine::FinishResult>> PromotionCommitter::finish(
    const std::vector<engine::PushOutcome>& outcomes, std::string_view owner,
    engine::WallTime now) {
  if (outcomes.empty()) return std::vector<engine::FinishResult>{};
  Finish finish{&outcomes, owner, now, std::nullopt};
  Entry mine;
  mine.finish = &finish;
  run(mine);
  return std::move(*finish.result);
}

std::optional<std::chrono::milliseconds> PromotionCommitter::hold_for(
    Clock::SteadyTime queued_at) const {
  if (finish_hold_.count() <= 0 || !last_promotions_ ||
      queued_at - *last_promotions_ >= finish_hold_) {
    return std::nullopt;  // no approvals flowing
  }
  for (const Entry* e : queue_) {
    if (!e->finish) return std::nullopt;  // a promotion is queued: lead it now
  }
  const auto left = queued_at + finish_hold_ - clock_.steady_now();
  if (left <= Clock::SteadyTime::duration::zero()) return std::nullopt;
  return std::chrono::ceil<std::chrono::milliseconds>(left);
}

void PromotionCommitter::run(Entry& mine) {
  ps::MutexLock lock(mu_);
  queue_.push_back(&mine);
  const auto queued_at = clock_.steady_now();
  while (!mine.done) {
    if (committing_) {
      done_cv_.wait(lock);
      continue;
    }
    if (mine.finish) {
      if (const auto left = hold_for(queued_at)) {
        clock_.wait_for(done_cv_, lock, *left);
        continue;
      }
    }
    committing_ = true;
    std::vector<Entry*> batch = take_batch();
    lock.unlock();
    const bool promotions = commit_batch(batch);
    lock.lock();
    // Results were written by the leader alone; they are published under the lock: the
    // waiters read them under it.
    for (Entry* e : batch) {
      if (e->result && e->result->ok()) ++committed_;
      e->done = true;
    }
    if (promotions) last_promotions_ = clock_.steady_now();
    committing_ = false;
    ++batches_;
    done_cv_.notify_all();
  }
}

std::vector<PromotionCommitter::Entry*> PromotionCommitter::take_batch() {
  std::vector<Entry*> batch;
  std::deque<Entry*> rest;
  std::size_t promotions = 0;
  const engine::Rules* rules = nullptr;
  bool promotions_closed = false;  // a later promotion never overtakes an earlier one
  for (Entry* e : queue_) {
    if (e->finish) {
      batch.push_back(e);
      continue;
    }
    if (!promotions_closed && promotions < max_batch_ &&
        (!rules || e->rules.get() == rules)) {
      rules = e->rules.get();
      ++promotions;
      batch.push_back(e);
      continue;
    }
    promotions_closed = true;
    rest.push_back(e);
  }
  queue_ = std::move(rest);
  return batch;
}

bool PromotionCommitter::commit_batch(const std::vector<Entry*>& batch) {
  std::vector<engine::Ledger::BatchedPromotion> promotions;
  std::vector<Entry*> promoted;
  std::vector<engine::Ledger::SideWrite> finishes;
  std::vector<Finish*> finishing;
  std::shared_ptr<const engine::Rules> rules;
  for (Entry* e : batch) {
    if (e->finish) {
      Finish* f = e->finish;
      finishing.push_back(f);
      finishes.push_back([f](engine::LedgerTx& tx) {
        f->result = engine::finish_pushes(tx, *f->outcomes, f->owner, f->now);
        return f->result->status();
      });
    } else {
      promotions.push_back(e->promotion);
      promoted.push_back(e);
      rules = e->rules;
    }
  }
  auto lease = ledgers_.acquire();
  if (!lease.ok()) {
    for (Entry* e : promoted) e->result = lease.status();
    for (Finish* f : finishing) f->result = lease.status();
    return !promoted.empty();
  }
  std::vector<Result<engine::PromotionRecord>> results;
  std::vector<Status> finished;
  {
    ps::MutexLock write(ledgers_.write_mutex());
    const auto start = std::chrono::steady_clock::now();
    results = lease->ledger().promote_batch(promotions, rules.get(), finishes, &finished);
    if (on_batch_ && !promotions.empty()) {
      on_batch_(promotions.size(),
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
  }
  bool broken = false;  // the connection saw an error: do not reuse it
  for (std::size_t i = 0; i < promoted.size(); ++i) {
    const auto code = results[i].status().code();
    broken = broken || (!results[i].ok() && code != Code::aborted &&
                        code != Code::failed_precondition && code != Code::invalid_data);
    promoted[i]->result = std::move(results[i]);
  }
  for (std::size_t i = 0; i < finishing.size(); ++i) {
    // A failed transaction (or savepoint) overrides what the finish saw inside it.
    if (!finished[i].ok()) finishing[i]->result = finished[i];
    broken = broken || !finished[i].ok();
  }
  if (broken) lease->discard();
  return !promoted.empty();
}

std::size_t PromotionCommitter::batches() const {
  ps::MutexLock lock(mu_);
  return batches_;
}

std::size_t PromotionCommitter::promotions() const {
  ps::MutexLock lock(mu_);
  return committed_;
}

std::size_t PromotionCommitter::queued() const {
  ps::MutexLock lock(mu_);
  return queue_.size();
}

}  // namespace ps::sidecar
