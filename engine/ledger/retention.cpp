#include "engine/ledger/retention.h"

#include "engine/ledger/ledger.h"
#include "engine/ledger/sqlite.h"

namespace ps::engine {
namespace {

// Each statement deletes at most ?2 rows chosen in rowid order (the oldest first: ids grow
// with time), older than ?1 by julianday() so any isoformat spelling compares right and an
// unparseable timestamp (NULL) never matches. One statement = one short implicit transaction.
const char* prune_sql(RetainedTable table) {
  switch (table) {
    case RetainedTable::drift:
      return "DELETE FROM sidecar_drift WHERE id IN (SELECT id FROM sidecar_drift "
             "WHERE julianday(found_at) < julianday(?1) ORDER BY id LIMIT ?2)";
    case RetainedTable::sync_history:
      return "DELETE FROM sidecar_sync_history WHERE id IN (SELECT id FROM sidecar_sync_history "
             "WHERE julianday(at) < julianday(?1) OR id <= "
             "(SELECT COALESCE(MAX(id), 0) FROM sidecar_sync_history) - ?3 ORDER BY id LIMIT ?2)";
    case RetainedTable::webhook_deliveries:
      return "DELETE FROM sidecar_webhook_deliveries WHERE rowid IN (SELECT rowid FROM "
             "sidecar_webhook_deliveries WHERE julianday(received_at) < julianday(?1) "
             "ORDER BY rowid LIMIT ?2)";
    case RetainedTable::denials:
      return "DELETE FROM sidecar_denials WHERE id IN (SELECT id FROM sidecar_denials "
             "WHERE julianday(timestamp) < julianday(?1) ORDER BY id LIMIT ?2)";
    case RetainedTable::demotions:
      return "DELETE FROM sidecar_demotions WHERE id IN (SELECT d.id FROM sidecar_demotions d "
             "WHERE julianday(d.timestamp) < julianday(?1) "
             "AND d.id < (SELECT MAX(l.id) FROM sidecar_demotions l WHERE l.agent_id = d.agent_id) "
             "AND NOT EXISTS (SELECT 1 FROM sidecar_revocation_steps s "
             "WHERE s.demotion_id = d.id AND s.state <> 'done') ORDER BY d.id LIMIT ?2)";
    case RetainedTable::revocation_steps:
      return "DELETE FROM sidecar_revocation_steps WHERE id IN (SELECT id FROM "
             "sidecar_revocation_steps WHERE state = 'done' AND julianday(done_at) < julianday(?1) "
             "ORDER BY id LIMIT ?2)";
    case RetainedTable::outbox:
      return "DELETE FROM sidecar_outbox WHERE rowid IN (SELECT o.rowid FROM sidecar_outbox o "
             "WHERE o.state = 'synced' AND julianday(o.synced_at) < julianday(?1) "
             "AND NOT EXISTS (SELECT 1 FROM agent_metrics m "
             "WHERE lower(m.agent_id) = lower(o.agent_id)) ORDER BY o.rowid LIMIT ?2)";
  }
  return "";
}

}  // namespace

const char* retained_table_name(RetainedTable table) {
  switch (table) {
    case RetainedTable::drift: return "drift";
    case RetainedTable::sync_history: return "sync_history";
    case RetainedTable::webhook_deliveries: return "webhook_deliveries";
    case RetainedTable::denials: return "denials";
    case RetainedTable::demotions: return "demotions";
    case RetainedTable::revocation_steps: return "revocation_steps";
    case RetainedTable::outbox: return "outbox";
  }
  return "?";
}

Result<std::int64_t> Ledger::prune_batch(const PruneBatch& batch) {
  // Every table above exists from migration 6 on; an older ledger is not pruned.
  auto version = schema_version();
  if (!version.ok()) return version.status();
  if (*version < 6) {
    return Status(Code::failed_precondition,
                  "the ledger is not migrated (run policy-sidecar migrate): nothing to prune");
  }
  auto stmt = conn_->prepare(prune_sql(batch.table));
  if (!stmt.ok()) return stmt.status();
  stmt->bind(1, std::string_view(batch.cutoff));
  stmt->bind(2, batch.limit);
  if (batch.table == RetainedTable::sync_history) {
    // No row cap: keep_rows larger than any id, so only the age rule applies.
    stmt->bind(3, batch.keep_rows.value_or(INT64_MAX));
  }
  if (Status s = stmt->run(); !s.ok()) return s;
  return conn_->changes();
}

}  // namespace ps::engine
