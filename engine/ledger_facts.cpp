// Fact queries: the agent_metrics row, the 30-day window over agent_actions and violations,
// and the checks for data that breaks the upstream contract.
#include <algorithm>
#include <cstdio>
#include <unordered_map>

#include "engine/ledger.h"
#include "engine/pyjson.h"

namespace ps::engine {
namespace {

constexpr std::int64_t kProgressEvery = 1 << 16;

// The reference's window expression, with now bound instead of read from the clock.
constexpr std::string_view kWindowActionsAll =
    "SELECT agent_id, action, CASE WHEN success = 1 THEN 1 ELSE 0 END, "
    "CASE WHEN decision = 'EXECUTE' AND success = 1 THEN 1 ELSE 0 END, id "
    "FROM agent_actions WHERE datetime(timestamp) >= datetime(?1, '-30 days')";
constexpr std::string_view kWindowActionsOne =
    "SELECT agent_id, action, CASE WHEN success = 1 THEN 1 ELSE 0 END, "
    "CASE WHEN decision = 'EXECUTE' AND success = 1 THEN 1 ELSE 0 END, id "
    "FROM agent_actions WHERE agent_id = ?2 AND datetime(timestamp) >= datetime(?1, '-30 days')";
constexpr std::string_view kWindowViolationsAll =
    "SELECT agent_id, COUNT(*) FROM violations "
    "WHERE datetime(timestamp) >= datetime(?1, '-30 days') GROUP BY agent_id";
constexpr std::string_view kWindowViolationsOne =
    "SELECT agent_id, COUNT(*) FROM violations "
    "WHERE agent_id = ?2 AND datetime(timestamp) >= datetime(?1, '-30 days')";
// Rows the reference silently leaves out of every window: their timestamp does not parse.
constexpr std::string_view kBadTimestampTables[] = {"agent_actions", "violations"};

// Makes a value printable on one line: control bytes become \n, \t or \xNN.
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

std::string quoted(std::string_view s) { return "'" + one_line(s) + "'"; }

std::string describe(const std::optional<SqlValue>& v) {
  if (!v) return "binary data (BLOB)";
  if (is_null(*v)) return "NULL";
  if (const auto* s = std::get_if<std::string>(&*v)) return quoted(*s);
  return py_str(*v);
}

struct MetricsLayout {
  std::shared_ptr<const std::vector<std::string>> columns;  // SELECT * columns
  int agent_id = -1, current_tier = -1, compliant_runs = -1, consecutive = -1, total_runs = -1;
};

// For `SELECT rowid, * FROM agent_metrics ...`: column 0 is the rowid, the rest is the row.
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

// One agent_metrics row: the facts, or what is wrong with it.
struct ParsedMetrics {
  std::shared_ptr<AgentFacts> facts;  // set when valid
  std::string agent_id;               // empty when the row has no usable agent_id
  std::string problem;                // set when invalid
};

ParsedMetrics parse_metrics_row(const sqlite::Statement& stmt, const MetricsLayout& layout) {
  ParsedMetrics out;
  const std::string row_name = "agent_metrics row " + std::to_string(stmt.column_int(0));
  const auto id = stmt.column_value(layout.agent_id);
  if (!id || !std::holds_alternative<std::string>(*id)) {
    out.problem = row_name + ": agent_id is " + describe(id);
    return out;
  }
  out.agent_id = std::get<std::string>(*id);
  const std::string who = "agent " + quoted(out.agent_id) + ": ";

  auto facts = std::make_shared<AgentFacts>();
  facts->agent_id = out.agent_id;
  facts->metrics.columns = layout.columns;
  facts->metrics.values.reserve(layout.columns->size());
  for (int i = 1; i < stmt.column_count(); ++i) {
    auto v = stmt.column_value(i);
    if (!v) {
      out.problem = who + stmt.column_name(i) + " is binary data (BLOB)";
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
      out.problem = who + stmt.column_name(c.index) + " = " + describe(stmt.column_value(c.index)) +
                    " (must be " + c.rule + ")";
      return out;
    }
    if (c.target) *c.target = v;
  }
  out.facts = std::move(facts);
  return out;
}

// Window aggregates of one agent while rows stream in (in index order, not rowid order).
struct WindowAcc {
  std::int64_t total = 0, successful = 0, executions = 0;
  std::vector<std::pair<std::string, std::int64_t>> first_seen;  // action -> lowest rowid

  void add(std::string_view action, bool success, bool execution, std::int64_t rowid) {
    ++total;
    successful += success;
    executions += execution;
    for (auto& [name, first] : first_seen) {
      if (name == action) {
        first = std::min(first, rowid);
        return;
      }
    }
    first_seen.emplace_back(std::string(action), rowid);
  }

  // The reference lists SELECT DISTINCT action in scan order, i.e. by first rowid.
  void finish(AgentFacts& f) {
    std::sort(first_seen.begin(), first_seen.end(),
              [](const auto& a, const auto& b) { return a.second < b.second; });
    f.total_actions = total;
    f.successful_actions = successful;
    f.successful_executions = executions;
    f.action_types.clear();
    for (auto& [name, first] : first_seen) f.action_types.push_back(std::move(name));
  }
};

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

std::string bad_timestamp_problem(std::string_view agent_id, std::string_view table,
                                  std::int64_t rowid, const std::optional<SqlValue>& ts) {
  return "agent " + quoted(agent_id) + ": " + std::string(table) + " row " +
         std::to_string(rowid) + " has an unparseable timestamp " + describe(ts);
}

}  // namespace

Result<std::shared_ptr<const AgentFacts>> Ledger::load_agent_facts(std::string_view agent_id,
                                                                   const std::string& now_iso) {
  auto metrics = conn_->prepare("SELECT rowid, * FROM agent_metrics WHERE agent_id = ?1");
  if (!metrics.ok()) return metrics.status();
  metrics->bind(1, agent_id);
  auto row = metrics->step();
  if (!row.ok()) return row.status();
  if (!*row) return std::shared_ptr<const AgentFacts>{};
  ParsedMetrics parsed = parse_metrics_row(*metrics, layout_of(*metrics));
  if (!parsed.problem.empty()) return Status(Code::invalid_data, parsed.problem);
  AgentFacts& f = *parsed.facts;

  for (std::string_view table : kBadTimestampTables) {
    auto bad = conn_->prepare("SELECT id, timestamp FROM " + std::string(table) +
                              " WHERE agent_id = ?1 AND datetime(timestamp) IS NULL LIMIT 1");
    if (!bad.ok()) return bad.status();
    bad->bind(1, agent_id);
    auto hit = bad->step();
    if (!hit.ok()) return hit.status();
    if (*hit) {
      return Status(Code::invalid_data, bad_timestamp_problem(agent_id, table, bad->column_int(0),
                                                              bad->column_value(1)));
    }
  }

  auto actions = conn_->prepare(kWindowActionsOne);
  if (!actions.ok()) return actions.status();
  actions->bind(1, std::string_view(now_iso)).bind(2, agent_id);
  WindowAcc acc;
  for (;;) {
    auto r = actions->step();
    if (!r.ok()) return r.status();
    if (!*r) break;
    acc.add(actions->column_text(1), actions->column_int(2) != 0, actions->column_int(3) != 0,
            actions->column_int(4));
  }
  acc.finish(f);

  auto violations = conn_->prepare(kWindowViolationsOne);
  if (!violations.ok()) return violations.status();
  violations->bind(1, std::string_view(now_iso)).bind(2, agent_id);
  auto v = violations->step();
  if (!v.ok()) return v.status();
  f.violations_30d = violations->column_int(1);
  return std::shared_ptr<const AgentFacts>(std::move(parsed.facts));
}

Result<std::shared_ptr<const AgentFacts>> Ledger::agent_facts(std::string_view agent_id,
                                                              WallTime now) {
  auto tx = sqlite::Transaction::begin(*conn_, sqlite::Transaction::Kind::read);
  if (!tx.ok()) return tx.status();
  auto facts = load_agent_facts(agent_id, format_isoformat_utc(now));
  if (!facts.ok()) return facts;
  if (Status s = tx->commit(); !s.ok()) return s;
  return facts;
}

Result<std::optional<std::int64_t>> Ledger::current_tier(std::string_view agent_id) {
  auto stmt = conn_->prepare("SELECT current_tier FROM agent_metrics WHERE agent_id = ?1");
  if (!stmt.ok()) return stmt.status();
  stmt->bind(1, agent_id);
  auto row = stmt->step();
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<std::int64_t>{};
  const std::int64_t tier = stmt->column_int(0);
  if (!stmt->column_is_integer(0) || tier < 0 || tier > kMaxTier) {
    return Status(Code::invalid_data, "agent " + quoted(agent_id) + ": current_tier = " +
                                          describe(stmt->column_value(0)) +
                                          " (must be an integer 0..4)");
  }
  return std::optional<std::int64_t>{tier};
}

// Four passes, each one grouped query over all agents, inside one read transaction so the
// facts are a consistent snapshot. The window pass streams the covering index
// sidecar_actions_window (when present) and aggregates per agent in a hash table, which is
// cheaper than letting SQLite sort the window for a GROUP BY.
Result<AllAgentFacts> Ledger::all_agent_facts(WallTime now, const ProgressFn& progress) {
  const std::string now_iso = format_isoformat_utc(now);
  auto tx = sqlite::Transaction::begin(*conn_, sqlite::Transaction::Kind::read);
  if (!tx.ok()) return tx.status();

  struct Entry {
    std::string agent_id;
    std::shared_ptr<AgentFacts> facts;
    std::string problem;
    std::int64_t more_problems = 0;
    WindowAcc window;
  };
  std::vector<Entry> entries;
  std::unordered_map<std::string, std::size_t, StringHash, std::equal_to<>> index;
  auto report = [&](ScanProgress::Phase phase, std::int64_t rows) {
    if (progress) progress({phase, rows, static_cast<std::int64_t>(entries.size())});
  };

  {
    auto stmt = conn_->prepare("SELECT rowid, * FROM agent_metrics ORDER BY agent_id");
    if (!stmt.ok()) return stmt.status();
    const MetricsLayout layout = layout_of(*stmt);
    std::int64_t rows = 0;
    for (;;) {
      auto r = stmt->step();
      if (!r.ok()) return r.status();
      if (!*r) break;
      ParsedMetrics parsed = parse_metrics_row(*stmt, layout);
      if (!parsed.agent_id.empty()) index.emplace(parsed.agent_id, entries.size());
      entries.push_back({std::move(parsed.agent_id), std::move(parsed.facts),
                         std::move(parsed.problem), 0, {}});
      if (++rows % kProgressEvery == 0) report(ScanProgress::Phase::metrics, rows);
    }
    report(ScanProgress::Phase::metrics, rows);
  }

  for (std::string_view table : kBadTimestampTables) {
    auto stmt = conn_->prepare("SELECT agent_id, id, timestamp FROM " + std::string(table) +
                               " WHERE datetime(timestamp) IS NULL");
    if (!stmt.ok()) return stmt.status();
    for (;;) {
      auto r = stmt->step();
      if (!r.ok()) return r.status();
      if (!*r) break;
      auto it = index.find(stmt->column_text(0));
      if (it == index.end()) continue;  // not an agent we evaluate
      Entry& e = entries[it->second];
      if (e.problem.empty()) {
        e.problem = bad_timestamp_problem(e.agent_id, table, stmt->column_int(1),
                                          stmt->column_value(2));
      } else {
        ++e.more_problems;
      }
    }
  }

  {
    auto stmt = conn_->prepare(kWindowActionsAll);
    if (!stmt.ok()) return stmt.status();
    stmt->bind(1, std::string_view(now_iso));
    std::int64_t rows = 0;
    for (;;) {
      auto r = stmt->step();
      if (!r.ok()) return r.status();
      if (!*r) break;
      if (++rows % kProgressEvery == 0) report(ScanProgress::Phase::actions, rows);
      auto it = index.find(stmt->column_text(0));
      if (it == index.end()) continue;
      entries[it->second].window.add(stmt->column_text(1), stmt->column_int(2) != 0,
                                     stmt->column_int(3) != 0, stmt->column_int(4));
    }
    report(ScanProgress::Phase::actions, rows);
  }

  {
    auto stmt = conn_->prepare(kWindowViolationsAll);
    if (!stmt.ok()) return stmt.status();
    stmt->bind(1, std::string_view(now_iso));
    std::int64_t rows = 0;
    for (;;) {
      auto r = stmt->step();
      if (!r.ok()) return r.status();
      if (!*r) break;
      ++rows;
      auto it = index.find(stmt->column_text(0));
      if (it == index.end() || !entries[it->second].facts) continue;
      entries[it->second].facts->violations_30d = stmt->column_int(1);
    }
    report(ScanProgress::Phase::violations, rows);
  }
  if (Status s = tx->commit(); !s.ok()) return s;

  AllAgentFacts out;
  out.agents.reserve(entries.size());
  for (Entry& e : entries) {
    if (!e.problem.empty()) {
      if (e.more_problems > 0) {
        e.problem += " (and " + std::to_string(e.more_problems) + " more invalid rows)";
      }
      out.problems.push_back({std::move(e.agent_id), std::move(e.problem)});
      continue;
    }
    e.window.finish(*e.facts);
    out.agents.push_back(std::move(e.facts));
  }
  return out;
}

}  // namespace ps::engine
