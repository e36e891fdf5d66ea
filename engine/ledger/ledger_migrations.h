// The sidecar's own schema changes to the ledger, as versioned migrations. Every table and
// index the sidecar adds is created by the SQL in ledger_migrations.cpp, next to the list.
//
// Rules for adding one:
//  - Append a new entry with the next version; never edit, renumber or remove an entry that
//    has shipped: ledgers in the field record which versions they have.
//  - Never alter an upstream table's existing columns (agent_metrics, agent_actions,
//    violations, promotions); the platform and the reference engine read them with SELECT *.
//    New tables and indexes are fine; name them sidecar_*.
//  - The SQL runs inside the migration's BEGIN IMMEDIATE transaction; it must not contain
//    BEGIN/COMMIT. Prefer IF NOT EXISTS so a half-finished manual attempt does not block.
//
// Applied migrations are recorded in
//   sidecar_schema_migrations(version INTEGER PRIMARY KEY, name TEXT NOT NULL,
//                             applied_at TEXT NOT NULL)
#pragma once

#include <span>
#include <string_view>

namespace ps::engine {

struct Migration {
  int version;
  std::string_view name;
  std::string_view sql;
};

// All migrations this build knows, oldest first.
std::span<const Migration> ledger_migrations();

}  // namespace ps::engine
