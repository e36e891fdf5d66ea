// Reading agent_metrics rows and describing bad ledger data: shared by the single-agent reads
// (ledger_facts.cpp) and the all-agents scan (ledger_scan.cpp). Internal to engine/.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/ledger/ledger_sql.h"
#include "engine/rules/rules.h"
#include "engine/ledger/sqlite.h"
#include "engine/rules/value.h"

namespace ps::engine::rows {

inline constexpr std::int64_t kProgressEvery = 1 << 16;

struct TimestampCheck {
  std::string_view table, all, one;
};
inline constexpr TimestampCheck kTimestampChecks[] = {
    {"agent_actions", sql::kBadActionTimestampsAll, sql::kBadActionTimestampsOne},
    {"violations", sql::kBadViolationTimestampsAll, sql::kBadViolationTimestampsOne},
};

// 'value' on one line: control bytes become \n, \t or \xNN.
std::string quoted(std::string_view s);
// A cell for a message: 7, 2.5, 'text', NULL, binary data (BLOB).
std::string describe(const std::optional<SqlValue>& v);

struct MetricsLayout {
  std::shared_ptr<const std::vector<std::string>> columns;  // SELECT * columns
  int agent_id = -1, current_tier = -1, compliant_runs = -1, consecutive = -1, total_runs = -1;
};
// For `SELECT rowid, * FROM agent_metrics ...`: column 0 is the rowid, the rest is the row.
MetricsLayout layout_of(const sqlite::Statement& stmt);

// One agent_metrics row: the facts (window fields still zero), or what is wrong with it.
struct ParsedMetrics {
  std::shared_ptr<AgentFacts> facts;  // set when valid
  std::int64_t rowid = 0;
  bool has_id = false;                // agent_id is text (possibly empty)
  std::string agent_id;
  std::string problem;                // set when invalid
};
ParsedMetrics parse_metrics_row(const sqlite::Statement& stmt, const MetricsLayout& layout);

// The newest sidecar demotion of each agent (empty without the sidecar_demotions table: an
// unmigrated ledger has none), for the cooldown requirement. `agent` set: that agent only.
using LastDemotions = std::map<std::string, WallTime, std::less<>>;
Result<LastDemotions> read_last_demotions(sqlite::Connection& conn,
                                          std::optional<std::string_view> agent = std::nullopt);

std::string bad_timestamp_problem(std::string_view agent_id, std::string_view table,
                                  std::int64_t rowid, const std::optional<SqlValue>& ts);

}  // namespace ps::engine::rows
