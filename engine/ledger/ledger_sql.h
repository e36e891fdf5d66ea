// The fact queries' SQL, shared by ledger_facts.cpp and the tests that check their query
// plans (EXPLAIN QUERY PLAN must show the migration-1 indexes). Internal to engine/.
//
// ?1 is always `now` (format_isoformat_utc); the window is the reference engine's
// datetime(timestamp) >= datetime(now, '-30 days'), and the success/execution flags are its
// CASE expressions, so SQLite decides both exactly as it does for the reference.
#pragma once

#include <string_view>

namespace ps::engine::sql {

// In table order; the caller sorts by agent_id as BINARY (memcmp) collation does, which is
// cheaper than SQLite's ORDER BY through the autoindex (a table lookup per row).
inline constexpr std::string_view kMetricsAll = "SELECT rowid, * FROM agent_metrics";
// In the reference's `eligible` order, for the streaming scan.
inline constexpr std::string_view kMetricsOrdered =
    "SELECT rowid, * FROM agent_metrics ORDER BY agent_id";
inline constexpr std::string_view kMetricsOne =
    "SELECT rowid, * FROM agent_metrics WHERE agent_id = ?2";

// Without migration 1: one pass over the table, aggregated by agent in memory.
inline constexpr std::string_view kWindowActionsAll =
    "SELECT agent_id, action, CASE WHEN success = 1 THEN 1 ELSE 0 END, "
    "CASE WHEN decision = 'EXECUTE' AND success = 1 THEN 1 ELSE 0 END, id "
    "FROM agent_actions WHERE datetime(timestamp) >= datetime(?1, '-30 days')";
// With migration 1: agent_metrics drives, each agent's window is one index range, and rows
// arrive grouped by agent in agent_id order (CROSS JOIN fixes the loop order). Columns:
// the agent's agent_metrics rowid, action, flags (1 = success, 2 = successful execution),
// the action's rowid. Integers keep the per-row work small: this is the hot loop.
#define PS_WINDOW_BY_AGENT_SELECT                                                          \
  "SELECT m.rowid, a.action, (CASE WHEN a.success = 1 THEN 1 ELSE 0 END) + "              \
  "2 * (CASE WHEN a.decision = 'EXECUTE' AND a.success = 1 THEN 1 ELSE 0 END), a.id "     \
  "FROM agent_metrics AS m CROSS JOIN agent_actions AS a ON a.agent_id = m.agent_id WHERE "
#define PS_WINDOW_BY_AGENT_TAIL \
  "datetime(a.timestamp) >= datetime(?1, '-30 days') ORDER BY m.agent_id"
inline constexpr std::string_view kWindowActionsByAgent =
    PS_WINDOW_BY_AGENT_SELECT PS_WINDOW_BY_AGENT_TAIL;
// The same for one range of agents (the parallel scan's chunks): agent_id >= ?2 AND < ?3,
// and the last range, agent_id >= ?2 (BLOB ids sort after every text, so they fall in it;
// rows without an id have no window rows: a NULL never joins).
inline constexpr std::string_view kWindowActionsByAgentRange =
    PS_WINDOW_BY_AGENT_SELECT "m.agent_id >= ?2 AND m.agent_id < ?3 AND " PS_WINDOW_BY_AGENT_TAIL;
inline constexpr std::string_view kWindowActionsByAgentFrom =
    PS_WINDOW_BY_AGENT_SELECT "m.agent_id >= ?2 AND " PS_WINDOW_BY_AGENT_TAIL;
#undef PS_WINDOW_BY_AGENT_SELECT
#undef PS_WINDOW_BY_AGENT_TAIL
// Every chunk-th text agent_id in order: the ranges' lower bounds (?1 = chunk size).
inline constexpr std::string_view kAgentRangeStarts =
    "SELECT agent_id FROM (SELECT agent_id, row_number() OVER (ORDER BY agent_id) AS n "
    "FROM agent_metrics WHERE typeof(agent_id) = 'text') WHERE (n - 1) % ?1 = 0";
// Whether migration 1's window index exists (reads work without it, by a full scan).
inline constexpr std::string_view kHasWindowIndex =
    "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'sidecar_actions_agent_window'";
inline constexpr std::string_view kWindowActionsOne =
    "SELECT agent_id, action, CASE WHEN success = 1 THEN 1 ELSE 0 END, "
    "CASE WHEN decision = 'EXECUTE' AND success = 1 THEN 1 ELSE 0 END, id "
    "FROM agent_actions WHERE agent_id = ?2 AND datetime(timestamp) >= datetime(?1, '-30 days')";

inline constexpr std::string_view kWindowViolationsAll =
    "SELECT agent_id, COUNT(*) FROM violations "
    "WHERE datetime(timestamp) >= datetime(?1, '-30 days') GROUP BY agent_id ORDER BY agent_id";
inline constexpr std::string_view kWindowViolationsOne =
    "SELECT agent_id, COUNT(*) FROM violations "
    "WHERE agent_id = ?2 AND datetime(timestamp) >= datetime(?1, '-30 days')";

// Rows the reference silently leaves out of every window: their timestamp does not parse.
inline constexpr std::string_view kBadActionTimestampsAll =
    "SELECT agent_id, id, timestamp FROM agent_actions WHERE datetime(timestamp) IS NULL";
inline constexpr std::string_view kBadActionTimestampsOne =
    "SELECT agent_id, id, timestamp FROM agent_actions "
    "WHERE agent_id = ?2 AND datetime(timestamp) IS NULL LIMIT 1";
inline constexpr std::string_view kBadViolationTimestampsAll =
    "SELECT agent_id, id, timestamp FROM violations WHERE datetime(timestamp) IS NULL";
inline constexpr std::string_view kBadViolationTimestampsOne =
    "SELECT agent_id, id, timestamp FROM violations "
    "WHERE agent_id = ?2 AND datetime(timestamp) IS NULL LIMIT 1";

}  // namespace ps::engine::sql
