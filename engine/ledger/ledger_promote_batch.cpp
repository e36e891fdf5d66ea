// Group commit of promotions (see Ledger::promote_batch in engine/ledger.h).
#include "engine/ledger/ledger.h"

namespace ps::engine {

// Why savepoints: the batch shares one write lock and one COMMIT, but each promotion must
// stay all-or-nothing on its own - a refused one (or one whose hook fails) must leave no
// trace, and must not undo its neighbours. ROLLBACK TO undoes exactly one entry's writes.
std::vector<Result<PromotionRecord>> Ledger::promote_batch(std::span<const BatchedPromotion> batch,
                                                           const Rules* rules,
                                                           std::span<const SideWrite> side,
                                                           std::vector<Status>* side_results) {
  std::vector<Result<PromotionRecord>> results;
  results.reserve(batch.size());
  std::vector<Status> side_status;
  auto fail_all = [&](const Status& s) {
    results.clear();
    for (std::size_t i = 0; i < batch.size(); ++i) results.emplace_back(s);
    if (side_results) side_results->assign(side.size(), s);
    return results;
  };
  if (!batch.empty() && !rules) return fail_all({Code::internal, "promote_batch without rules"});
  auto tx = sqlite::Transaction::begin(*conn_, sqlite::Transaction::Kind::write);
  if (!tx.ok()) return fail_all(tx.status());
  // One entry under its own savepoint: a failure (*outcome) undoes exactly its writes. The
  // returned Status is the savepoint's own (then the whole transaction is lost).
  auto entry = [&](const std::function<Status()>& write, Status* outcome) -> Status {
    if (Status s = conn_->exec("SAVEPOINT promote_batch_entry"); !s.ok()) return s;
    *outcome = write();
    if (!outcome->ok()) {
      if (Status s = conn_->exec("ROLLBACK TO promote_batch_entry"); !s.ok()) return s;
    }
    return conn_->exec("RELEASE promote_batch_entry");
  };
  for (const BatchedPromotion& e : batch) {
    Result<PromotionRecord> record = Status(Code::internal, "not run");
    Status outcome;
    Status ran = entry(
        [&] {
          record = promote_locked(e.request, *rules, e.hook);
          return record.status();
        },
        &outcome);
    if (!ran.ok()) return fail_all(ran);
    results.push_back(std::move(record));
  }
  LedgerTx ltx(*conn_);
  for (const SideWrite& write : side) {
    Status outcome;
    Status ran = entry([&] { return write(ltx); }, &outcome);
    if (!ran.ok()) return fail_all(ran);
    side_status.push_back(std::move(outcome));
  }
  if (Status s = tx->commit(); !s.ok()) return fail_all(s);
  if (side_results) *side_results = std::move(side_status);
  return results;
}

}  // namespace ps::engine
