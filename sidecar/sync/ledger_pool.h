// Ledger connections for threads that come and go (the daemon's request threads, the
// tier-change service's group commit, the periodic evaluator).
//
// A Ledger belongs to one thread at a time, so each user borrows one from the pool and gives it
// back. Connections are opened on demand (a ledger that was unreachable at start is retried on
// the next request) and one that saw an error is dropped rather than reused.
//
// Writers in this process queue on write_mutex() instead of on SQLite's lock: SQLite's busy
// handler polls with sleeps of up to 100 ms, a mutex wakes the next writer at once. Other
// processes (the platform, a CLI promote) still serialise through SQLite's own lock.
// Thread-safe.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

#include "engine/base/mutex.h"
#include "engine/ledger/ledger.h"

namespace ps::sidecar {

class LedgerPool {
 public:
  class Lease {
   public:
    Lease(LedgerPool* pool, std::unique_ptr<engine::Ledger> l) : pool_(pool), l_(std::move(l)) {}
    Lease(Lease&& o) noexcept : pool_(o.pool_), l_(std::move(o.l_)) { o.pool_ = nullptr; }
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    engine::Ledger& ledger() { return *l_; }
    engine::Ledger* operator->() { return l_.get(); }
    // Do not give this connection back (after an error that may have left it unusable).
    void discard() { l_.reset(); }

   private:
    LedgerPool* pool_;
    std::unique_ptr<engine::Ledger> l_;
  };

  explicit LedgerPool(engine::LedgerOptions options, std::size_t max_idle = 16)
      : options_(std::move(options)), max_idle_(max_idle) {}

  // An idle connection, or a newly opened one (errors as Ledger::open).
  Result<Lease> acquire();
  ps::Mutex& write_mutex() { return write_mu_; }
  const engine::LedgerOptions& options() const { return options_; }

 private:
  void give_back(std::unique_ptr<engine::Ledger> l);

  const engine::LedgerOptions options_;
  const std::size_t max_idle_;
  ps::Mutex mu_;
  std::vector<std::unique_ptr<engine::Ledger>> idle_ GUARDED_BY(mu_);
  ps::Mutex write_mu_;
};

}  // namespace ps::sidecar
