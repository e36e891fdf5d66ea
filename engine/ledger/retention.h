// Retention of the sidecar's own tables: the SQL that deletes old rows, one small batch per
// call, keeping what correctness needs. The schedule (how old, how often, how many per batch)
// is the caller's (sidecar/sync/retention.h, run by the daemon).
//
// What each table keeps whatever its cutoff (rows older than the cutoff are deleted otherwise;
// a row whose timestamp does not parse is never deleted):
//   drift               - (nothing extra; rows are reports)
//   sync_history        - rows newer than the cutoff; also deleted beyond the newest keep_rows
//   webhook_deliveries  - the caller's cutoff must cover the signature tolerance plus the
//                         sender's retry horizon (a redelivery must find its stored answer)
//   denials             - (nothing extra)
//   demotions           - each agent's latest demotion (the cooldown reads it), and every
//                         demotion with a revocation step not yet done
//   revocation_steps    - only 'done' steps are deleted (pending and failed never)
//   outbox              - only 'synced' rows of agents no longer in agent_metrics (pending and
//                         failed rows never; a present agent's row is what Vault must hold)
// Never touched: sidecar_revocation_mark (the violation mark), sidecar_violation_outcomes (an
// outcome below the mark is how a late violation is told from a handled one), sidecar_freeze,
// sidecar_schema_migrations, and the platform's tables.
//
// Who calls it: sidecar/sync/retention.cpp through Ledger::prune_batch.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

namespace ps::engine {

enum class RetainedTable {
  drift,
  sync_history,
  webhook_deliveries,
  denials,
  demotions,
  revocation_steps,
  outbox,
};

inline constexpr std::array<RetainedTable, 7> kRetainedTables = {
    RetainedTable::drift,     RetainedTable::sync_history,     RetainedTable::webhook_deliveries,
    RetainedTable::denials,   RetainedTable::demotions,        RetainedTable::revocation_steps,
    RetainedTable::outbox};

// "drift", "sync_history", ... (the config keys' and the metric label's spelling).
const char* retained_table_name(RetainedTable table);

struct PruneBatch {
  RetainedTable table = RetainedTable::drift;
  std::string cutoff;         // isoformat UTC: rows older than this may go
  std::int64_t limit = 500;   // rows deleted at most (one short write transaction)
  std::optional<std::int64_t> keep_rows;  // sync_history: also beyond the newest keep_rows
};

}  // namespace ps::engine
