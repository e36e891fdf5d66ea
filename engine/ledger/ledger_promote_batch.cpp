// Group commit of promotions (see Ledger::promote_batch in engine/ledger.h).
#include "engine/ledger/ledger.h"

namespace ps::engine {

// Why savepoints: the batch shares one write lock and one COMMIT, but each promotion must
// stay all-or-nothing on its own - a refused one (or one whose hook fails) must leave no
// trace, and must not undo its neighbours. ROLLBACK TO undoes exactly one entry's writes.
std::vector<Result<PromotionRecord>> Ledger::promote_batch(std::span<const BatchedPromotion> batch,
                                                           const Rules& rules) {
  std::vector<Result<PromotionRecord>> results;
  results.reserve(batch.size());
  auto fail_all = [&](const Status& s) {
    results.clear();
    for (std::size_t i = 0; i < batch.size(); ++i) results.emplace_back(s);
    return results;
  };
  auto tx = sqlite::Transaction::begin(*conn_, sqlite::Transaction::Kind::write);
  if (!tx.ok()) return fail_all(tx.status());
  for (const BatchedPromotion& entry : batch) {
    if (Status s = conn_->exec("SAVEPOINT promote_batch_entry"); !s.ok()) return fail_all(s);
    auto record = promote_locked(entry.request, rules, entry.hook);
    if (!record.ok()) {
      if (Status s = conn_->exec("ROLLBACK TO promote_batch_entry"); !s.ok()) return fail_all(s);
    }
    if (Status s = conn_->exec("RELEASE promote_batch_entry"); !s.ok()) return fail_all(s);
    results.push_back(std::move(record));
  }
  if (Status s = tx->commit(); !s.ok()) return fail_all(s);
  return results;
}

}  // namespace ps::engine
