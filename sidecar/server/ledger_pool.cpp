#include "sidecar/server/ledger_pool.h"

namespace ps::sidecar::server {

LedgerPool::Lease::~Lease() {
  if (pool_ && s_) pool_->give_back(std::move(s_));
}

engine::Result<LedgerPool::Lease> LedgerPool::acquire() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!idle_.empty()) {
      auto s = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(s));
    }
  }
  auto ledger = engine::Ledger::open(options_);
  if (!ledger.ok()) return ledger.status();
  auto approvals = engine::ApprovalStore::open(options_);
  if (!approvals.ok()) return approvals.status();
  auto s = std::make_unique<LedgerSession>();
  s->ledger = std::move(ledger).value();
  s->approvals = std::move(approvals).value();
  return Lease(this, std::move(s));
}

void LedgerPool::give_back(std::unique_ptr<LedgerSession> s) {
  std::lock_guard<std::mutex> lock(mu_);
  if (idle_.size() < max_idle_) idle_.push_back(std::move(s));
}

}  // namespace ps::sidecar::server
