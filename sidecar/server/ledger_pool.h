// Ledger connections for the daemon's request threads.
//
// A Ledger (and an ApprovalStore) belongs to one thread at a time, so each request borrows a
// session from the pool and gives it back. Sessions are opened on demand (a ledger that was
// unreachable at start is retried on the next request) and a session that saw an error is
// dropped rather than reused.
//
// Writers in this process queue on write_mutex() instead of on SQLite's lock: SQLite's busy
// handler polls with sleeps of up to 100 ms, a mutex wakes the next writer at once. Other
// processes (the platform, a CLI promote) still serialise through SQLite's own lock.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

#include "engine/approvals.h"
#include "engine/ledger.h"

namespace ps::sidecar::server {

struct LedgerSession {
  std::unique_ptr<engine::Ledger> ledger;
  std::unique_ptr<engine::ApprovalStore> approvals;
};

class LedgerPool {
 public:
  class Lease {
   public:
    Lease(LedgerPool* pool, std::unique_ptr<LedgerSession> s) : pool_(pool), s_(std::move(s)) {}
    Lease(Lease&& o) noexcept : pool_(o.pool_), s_(std::move(o.s_)) { o.pool_ = nullptr; }
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    engine::Ledger& ledger() { return *s_->ledger; }
    engine::ApprovalStore& approvals() { return *s_->approvals; }
    // Do not give this session back (after an error that may have left it unusable).
    void discard() { s_.reset(); }

   private:
    LedgerPool* pool_;
    std::unique_ptr<LedgerSession> s_;
  };

  LedgerPool(engine::LedgerOptions options, std::size_t max_idle = 16)
      : options_(std::move(options)), max_idle_(max_idle) {}

  // An idle session, or a newly opened one (errors as Ledger::open).
  engine::Result<Lease> acquire();
  std::mutex& write_mutex() { return write_mu_; }
  const engine::LedgerOptions& options() const { return options_; }

 private:
  void give_back(std::unique_ptr<LedgerSession> s);

  const engine::LedgerOptions options_;
  const std::size_t max_idle_;
  std::mutex mu_;
  std::vector<std::unique_ptr<LedgerSession>> idle_;  // guarded by mu_
  std::mutex write_mu_;
};

}  // namespace ps::sidecar::server
