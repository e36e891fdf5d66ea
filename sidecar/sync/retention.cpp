#include "sidecar/sync/retention.h"

#include <mutex>

#include "engine/rules/timestamp.h"

namespace ps::sidecar {
namespace {

std::int64_t days_for(const RetentionConfig& c, engine::RetainedTable table) {
  switch (table) {
    case engine::RetainedTable::drift: return c.drift_days;
    case engine::RetainedTable::sync_history: return c.sync_history_days;
    case engine::RetainedTable::webhook_deliveries: return c.webhook_deliveries_days;
    case engine::RetainedTable::denials: return c.denials_days;
    case engine::RetainedTable::demotions: return c.demotions_days;
    case engine::RetainedTable::revocation_steps: return c.revocation_steps_days;
    case engine::RetainedTable::outbox: return c.outbox_days;
  }
  return c.demotions_days;
}

}  // namespace

std::int64_t RetentionPass::total() const {
  std::int64_t n = 0;
  for (const auto& [table, count] : deleted) n += count;
  return n;
}

std::string retention_cutoff(const RetentionConfig& config, engine::RetainedTable table,
                             Clock::WallTime now) {
  return engine::format_isoformat_utc(now - std::chrono::hours(24 * days_for(config, table)));
}

Result<std::int64_t> RetentionPruner::prune_batch(const engine::PruneBatch& batch) {
  auto lease = ledgers_.acquire();
  if (!lease.ok()) return lease.status();
  Result<std::int64_t> deleted = Status(Code::internal, "not run");
  {
    // In-process writers (group commit, the sync worker) queue here rather than spin on
    // SQLITE_BUSY; the batch is small, so they wait briefly.
    ps::MutexLock write(ledgers_.write_mutex());
    deleted = lease->ledger().prune_batch(batch);
  }
  if (!deleted.ok()) lease->discard();
  return deleted;
}

Result<RetentionPass> RetentionPruner::run_once(const RetentionConfig& config,
                                                const Pause& pause) {
  RetentionPass pass;
  const auto now = clock_.wall_now();
  for (engine::RetainedTable table : engine::kRetainedTables) {
    engine::PruneBatch batch;
    batch.table = table;
    batch.cutoff = retention_cutoff(config, table, now);
    batch.limit = config.batch_rows;
    if (table == engine::RetainedTable::sync_history) batch.keep_rows = config.sync_history_max_rows;
    std::int64_t& deleted = pass.deleted[engine::retained_table_name(table)];
    for (;;) {
      auto n = prune_batch(batch);
      if (!n.ok()) return n.status();
      ++pass.batches;
      deleted += *n;
      if (*n < batch.limit) break;  // nothing more is due in this table
      if (pause && pause()) {
        pass.stopped = true;
        return pass;
      }
    }
  }
  return pass;
}

}  // namespace ps::sidecar
