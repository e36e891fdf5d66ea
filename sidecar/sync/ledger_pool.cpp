#include "sidecar/sync/ledger_pool.h"

#include "engine/base/mutex.h"

namespace ps::sidecar {

LedgerPool::Lease::~Lease() {
  if (pool_ && l_) pool_->give_back(std::move(l_));
}

Result<LedgerPool::Lease> LedgerPool::acquire() {
  {
    ps::MutexLock lock(mu_);
    if (!idle_.empty()) {
      auto l = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(l));
    }
  }
  auto ledger = engine::Ledger::open(options_);
  if (!ledger.ok()) return ledger.status();
  return Lease(this, std::move(ledger).value());
}

void LedgerPool::give_back(std::unique_ptr<engine::Ledger> l) {
  ps::MutexLock lock(mu_);
  if (idle_.size() < max_idle_) idle_.push_back(std::move(l));
}

}  // namespace ps::sidecar
