// Internal to engine/outbox*.cpp: the outbox row's column list and conversions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/ledger/outbox.h"
#include "engine/ledger/sqlite.h"

namespace ps::engine::outbox_sql {

// The columns read_row() expects, in order, each prefixed with `prefix` ("o.").
inline std::string column_list(std::string_view prefix = "") {
  static constexpr std::string_view kColumns[] = {
      "agent_id",       "role",       "tier",         "policies",         "kind",
      "generation",     "synced_generation", "revision", "state",          "attempts",
      "next_attempt_ms", "changed_ms", "pending_since_ms", "error_code",    "last_error",
      "lease_owner",    "lease_until_ms", "created_at", "updated_at",       "synced_at"};
  std::string out;
  for (std::string_view c : kColumns) {
    if (!out.empty()) out += ", ";
    out += prefix;
    out += c;
  }
  return out;
}

std::string policies_json(const std::vector<std::string>& policies);
// Tolerant: a malformed cell reads as an empty list (the reconciler then sees drift).
std::vector<std::string> policies_from_json(std::string_view text);
// Reads the columns of column_list() starting at column `first`.
OutboxRow read_row(const sqlite::Statement& stmt, int first);
// failed_precondition unless migrations 2 and 3 are applied.
Status require_tables(sqlite::Connection& conn);

}  // namespace ps::engine::outbox_sql
