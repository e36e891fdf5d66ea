// How long this process's ledger write transactions waited: BEGIN IMMEDIATE (for the write
// lock) and COMMIT (in a rollback-journal ledger: until every reader is gone, plus the journal
// and database syncs). Recorded by the SQLite adapter (engine/ledger/sqlite.cpp) on every write
// transaction of every connection; read by the daemon's metrics
// (policy_sidecar_ledger_lock_wait_seconds) and the latency benchmark.
//
// Process-wide and lock-free. Bucket i counts waits <= kLockWaitBounds[i] seconds; the last
// bucket counts the rest.
#pragma once

#include <array>
#include <cstdint>

namespace ps::engine::sqlite {

inline constexpr std::array<double, 12> kLockWaitBounds{
    0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0};

struct LockWaitSnapshot {
  std::array<std::uint64_t, kLockWaitBounds.size() + 1> buckets{};
  std::uint64_t count = 0;
  double sum_seconds = 0;
};

enum class LockStep { begin_write, commit };

LockWaitSnapshot lock_waits(LockStep step);

}  // namespace ps::engine::sqlite
