// The retention pass: every sidecar table pruned by age (retention.* in the config; what each
// table keeps regardless is engine/ledger/retention.h), in batches of retention.batch_rows
// rows, each batch one short write under the pool's write mutex, with a pause between
// batches so that approvals, the sync worker and the platform's writers get the ledger.
//
// Who calls it: the daemon's retention thread (every retention.interval_s). Cutoffs come from the injected clock's wall time.
// Not thread-safe per instance (one caller at a time); concurrent with every other writer.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "engine/base/clock.h"
#include "engine/base/status.h"
#include "engine/ledger/retention.h"
#include "sidecar/config/config_serve.h"
#include "sidecar/sync/ledger_pool.h"

namespace ps::sidecar {

struct RetentionPass {
  std::map<std::string, std::int64_t> deleted;  // by table name (every table listed)
  std::int64_t batches = 0;
  bool stopped = false;  // `pause` asked to stop before the pass was complete
  std::int64_t total() const;
};

// The cutoff of `table` under `config` at `now` (isoformat UTC).
std::string retention_cutoff(const RetentionConfig& config, engine::RetainedTable table,
                             Clock::WallTime now);

class RetentionPruner {
 public:
  // Called between two batches of one table; returns true to stop the pass (shutdown).
  using Pause = std::function<bool()>;

  RetentionPruner(LedgerPool& ledgers, Clock& clock) : ledgers_(ledgers), clock_(clock) {}

  // Prunes every table until nothing more is due (or `pause` says stop). The first error
  // ends the pass and is returned (rows deleted before it stay deleted).
  Result<RetentionPass> run_once(const RetentionConfig& config, const Pause& pause = {});

 private:
  Result<std::int64_t> prune_batch(const engine::PruneBatch& batch);

  LedgerPool& ledgers_;
  Clock& clock_;
};

}  // namespace ps::sidecar
