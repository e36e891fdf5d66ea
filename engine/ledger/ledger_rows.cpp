#include "engine/ledger/ledger_rows.h"

#include <cstdio>

#include "engine/rules/pyjson.h"

namespace ps::engine::rows {

// Makes a value printable on one line: control bytes become \n, \t or \xNN.
namespace {

std::string one_line(std::string_view s) {
  std::string out;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20 || u == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

// Appended rather than "'" + one_line(s) + "'": GCC 12 reports a -Wrestrict false positive for
// operator+(const char*, std::string&&) at -O2/-O3.
std::string quoted(std::string_view s) {
  std::string out = "'";
  out += one_line(s);
  out += '\'';
  return out;
}

std::string describe(const std::optional<SqlValue>& v) {
  if (!v) return "binary data (BLOB)";
  if (is_null(*v)) return "NULL";
  if (const auto* s = std::get_if<std::string>(&*v)) return quoted(*s);
  return py_str(*v);
}

MetricsLayout layout_of(const sqlite::Statement& stmt) {
  MetricsLayout layout;
  auto columns = std::make_shared<std::vector<std::string>>();
  for (int i = 1; i < stmt.column_count(); ++i) {
    const std::string name = stmt.column_name(i);
    if (name == "agent_id") layout.agent_id = i;
    if (name == "current_tier") layout.current_tier = i;
    if (name == "compliant_runs") layout.compliant_runs = i;
    if (name == "consecutive_compliant") layout.consecutive = i;
    if (name == "total_runs") layout.total_runs = i;
    columns->push_back(name);
  }
  layout.columns = std::move(columns);
  return layout;
}

ParsedMetrics parse_metrics_row(const sqlite::Statement& stmt, const MetricsLayout& layout) {
  ParsedMetrics out;
  out.rowid = stmt.column_int(0);
  auto id = stmt.column_value(layout.agent_id);
  if (!id || !std::holds_alternative<std::string>(*id)) {
    out.problem = "agent_metrics row " + std::to_string(stmt.column_int(0)) + ": agent_id is " +
                  describe(id);
    return out;
  }
  out.has_id = true;
  out.agent_id = std::move(std::get<std::string>(*id));
  // Built only for a message: this runs once per agent on every `eligible`.
  auto who = [&] { return "agent " + quoted(out.agent_id) + ": "; };

  auto facts = std::make_shared<AgentFacts>();
  facts->agent_id = out.agent_id;
  facts->metrics.columns = layout.columns;
  facts->metrics.values.reserve(layout.columns->size());
  for (int i = 1; i < stmt.column_count(); ++i) {
    auto v = stmt.column_value(i);
    if (!v) {
      out.problem = who() + stmt.column_name(i) + " is binary data (BLOB)";
      return out;
    }
    facts->metrics.values.push_back(std::move(*v));
  }
  struct IntColumn {
    int index;
    std::int64_t* target;
    std::int64_t max;
    const char* rule;
  };
  constexpr std::int64_t kNoMax = INT64_MAX;
  const IntColumn ints[] = {
      {layout.current_tier, &facts->current_tier, kMaxTier, "an integer 0..4"},
      {layout.compliant_runs, &facts->compliant_runs, kNoMax, "a non-negative integer"},
      {layout.consecutive, &facts->consecutive_compliant, kNoMax, "a non-negative integer"},
      {layout.total_runs, nullptr, kNoMax, "a non-negative integer"},
  };
  for (const IntColumn& c : ints) {
    const bool is_int = stmt.column_is_integer(c.index);
    const std::int64_t v = stmt.column_int(c.index);
    if (!is_int || v < 0 || v > c.max) {
      out.problem = who() + stmt.column_name(c.index) + " = " + describe(stmt.column_value(c.index)) +
                    " (must be " + c.rule + ")";
      return out;
    }
    if (c.target) *c.target = v;
  }
  out.facts = std::move(facts);
  return out;
}

std::string bad_timestamp_problem(std::string_view agent_id, std::string_view table,
                                  std::int64_t rowid, const std::optional<SqlValue>& ts) {
  return "agent " + quoted(agent_id) + ": " + std::string(table) + " row " +
         std::to_string(rowid) + " has an unparseable timestamp " + describe(ts);
}

Result<LastDemotions> read_last_demotions(sqlite::Connection& conn,
                                          std::optional<std::string_view> agent) {
  LastDemotions out;
  auto has = conn.prepare(
      "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sidecar_demotions'");
  if (!has.ok()) return has.status();
  auto present = has->step();
  if (!present.ok()) return present.status();
  if (!*present) return out;
  auto stmt = conn.prepare(agent ? "SELECT agent_id, MAX(timestamp) FROM sidecar_demotions "
                                   "WHERE agent_id = ?1 GROUP BY agent_id"
                                 : "SELECT agent_id, MAX(timestamp) FROM sidecar_demotions "
                                   "GROUP BY agent_id");
  if (!stmt.ok()) return stmt.status();
  if (agent) stmt->bind(1, *agent);
  for (;;) {
    auto row = stmt->step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    // The sidecar writes these timestamps itself (isoformat); an unparseable one is skipped.
    if (auto at = parse_iso8601(stmt->column_text(1))) {
      out.emplace(std::string(stmt->column_text(0)), *at);
    }
  }
  return out;
}

}  // namespace ps::engine::rows
