// The all-agents pass behind `eligible`: one grouped query per fact kind, never a query per
// agent.
//
// With migration 1 the three ordered queries (metrics, window actions, window violations)
// all come in agent_id order and are merged, so each agent's facts are complete when the
// scan moves past it: the sink gets them at once and memory stays constant however many
// agents there are. Without the indexes, one pass over each table is aggregated in memory
// first (slower, same results: the differential tests check both paths).
#include <algorithm>
#include <unordered_map>

#include "engine/ledger.h"
#include "engine/ledger_rows.h"
#include "engine/ledger_sql.h"
#include "engine/window_aggregate.h"

namespace ps::engine {

using namespace rows;

namespace {

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// Agents whose actions or violations have unparseable timestamps (normally none): the first
// problem found and how many more rows are bad.
struct BadTimestamps {
  struct Entry {
    std::string problem;
    std::int64_t more = 0;
  };
  std::unordered_map<std::string, Entry, StringHash, std::equal_to<>> by_agent;

  // For an agent that is otherwise valid: its problem, if any.
  std::optional<std::string> problem_of(std::string_view agent) const {
    auto it = by_agent.find(agent);
    if (it == by_agent.end()) return std::nullopt;
    return with_count(it->second.problem, it->second.more);
  }
  static std::string with_count(std::string problem, std::int64_t more) {
    if (more > 0) problem += " (and " + std::to_string(more) + " more invalid rows)";
    return problem;
  }
};

Result<BadTimestamps> read_bad_timestamps(sqlite::Connection& conn) {
  BadTimestamps out;
  for (const TimestampCheck& check : kTimestampChecks) {
    auto stmt = conn.prepare(check.all);
    if (!stmt.ok()) return stmt.status();
    for (;;) {
      auto r = stmt->step();
      if (!r.ok()) return r.status();
      if (!*r) break;
      const std::string_view agent = stmt->column_text(0);
      auto it = out.by_agent.find(agent);
      if (it == out.by_agent.end()) {
        out.by_agent.emplace(std::string(agent),
                             BadTimestamps::Entry{bad_timestamp_problem(agent, check.table,
                                                                        stmt->column_int(1),
                                                                        stmt->column_value(2)),
                                                  0});
      } else {
        ++it->second.more;
      }
    }
  }
  return out;
}

// A forward cursor over one of the agent-ordered queries.
class OrderedCursor {
 public:
  explicit OrderedCursor(sqlite::Statement stmt) : stmt_(std::move(stmt)) {}
  Status advance() {
    auto r = stmt_.step();
    if (!r.ok()) return r.status();
    valid_ = *r;
    return Status::success();
  }
  bool valid() const { return valid_; }
  std::string_view agent() const { return stmt_.column_text(0); }  // text-keyed cursors
  const sqlite::Statement& row() const { return stmt_; }

  // Skips rows of agents ordered before `agent` (agents the metrics scan did not produce).
  Status skip_before(std::string_view agent) {
    while (valid_ && this->agent() < agent) {
      if (Status s = advance(); !s.ok()) return s;
    }
    return Status::success();
  }

 private:
  sqlite::Statement stmt_;
  bool valid_ = false;
};

}  // namespace

Status Ledger::scan_agents(WallTime now, const AgentSink& sink, const ProgressFn& progress) {
  const std::string now_iso = format_isoformat_utc(now);
  auto tx = sqlite::Transaction::begin(*conn_, sqlite::Transaction::Kind::read);
  if (!tx.ok()) return tx.status();
  auto has_index = conn_->prepare(sql::kHasWindowIndex);
  if (!has_index.ok()) return has_index.status();
  auto indexed = has_index->step();
  if (!indexed.ok()) return indexed.status();
  Status s = *indexed ? scan_ordered(now_iso, sink, progress)
                      : scan_in_memory(now_iso, sink, progress);
  if (!s.ok()) return s;
  return tx->commit();
}

Status Ledger::scan_ordered(const std::string& now_iso, const AgentSink& sink,
                            const ProgressFn& progress) {
  auto bad = read_bad_timestamps(*conn_);
  if (!bad.ok()) return bad.status();

  auto metrics = conn_->prepare(sql::kMetricsOrdered);
  auto actions = conn_->prepare(sql::kWindowActionsByAgent);
  auto violations = conn_->prepare(sql::kWindowViolationsAll);
  for (const auto* st : {&metrics, &actions, &violations}) {
    if (!st->ok()) return st->status();
  }
  actions->bind(1, std::string_view(now_iso));
  violations->bind(1, std::string_view(now_iso));
  const MetricsLayout layout = layout_of(*metrics);
  OrderedCursor a(std::move(actions).value());
  OrderedCursor v(std::move(violations).value());
  if (Status st = a.advance(); !st.ok()) return st;
  if (Status st = v.advance(); !st.ok()) return st;

  std::int64_t agents = 0, action_rows = 0;
  WindowAggregate window(1);
  for (;;) {
    auto r = metrics->step();
    if (!r.ok()) return r.status();
    if (!*r) break;
    ++agents;
    ParsedMetrics parsed = parse_metrics_row(*metrics, layout);
    // The join walks agent_metrics in the same (unique) agent_id order, so this agent's
    // window rows, if any, are next; they are consumed even if its row is invalid.
    window.reset(0);
    while (a.valid() && a.row().column_int(0) == parsed.rowid) {
      const auto& row = a.row();
      const std::int64_t flags = row.column_int(2);
      window.add(0, row.column_text(1), (flags & 1) != 0, (flags & 2) != 0, row.column_int(3));
      if (++action_rows % kProgressEvery == 0 && progress) {
        progress({ScanProgress::Phase::actions, action_rows, agents});
      }
      if (Status st = a.advance(); !st.ok()) return st;
    }
    if (parsed.has_id) {
      const std::string_view id = parsed.agent_id;
      if (Status st = v.skip_before(id); !st.ok()) return st;
      std::int64_t violation_count = 0;
      if (v.valid() && v.agent() == id) {
        violation_count = v.row().column_int(1);
        if (Status st = v.advance(); !st.ok()) return st;
      }
      if (parsed.problem.empty()) {
        if (auto problem = bad->problem_of(id)) parsed.problem = std::move(*problem);
      }
      if (parsed.problem.empty()) {
        window.finish(0, *parsed.facts);
        parsed.facts->violations_30d = violation_count;
      }
    }
    if (!parsed.problem.empty()) {
      sink({nullptr, AgentProblem{std::move(parsed.agent_id), std::move(parsed.problem)}});
    } else {
      sink({std::move(parsed.facts), std::nullopt});
    }
  }
  if (progress) progress({ScanProgress::Phase::actions, action_rows, agents});
  return Status::success();
}

// Without migration 1's indexes: one pass per table, aggregated by agent in memory.
Status Ledger::scan_in_memory(const std::string& now_iso, const AgentSink& sink,
                              const ProgressFn& progress) {
  std::vector<ParsedMetrics> entries;
  std::int64_t known_agents = 0;
  auto report = [&](ScanProgress::Phase phase, std::int64_t rows) {
    if (progress) progress({phase, rows, known_agents});
  };
  {
    auto stmt = conn_->prepare(sql::kMetricsAll);
    if (!stmt.ok()) return stmt.status();
    const MetricsLayout layout = layout_of(*stmt);
    for (;;) {
      auto r = stmt->step();
      if (!r.ok()) return r.status();
      if (!*r) break;
      entries.push_back(parse_metrics_row(*stmt, layout));
      if (++known_agents % kProgressEvery == 0) report(ScanProgress::Phase::metrics, known_agents);
    }
  }
  // The reference lists agents in agent_id order (BINARY collation: bytewise, like
  // std::string's compare); rows without a usable id first, as SQLite sorts NULL.
  std::stable_sort(entries.begin(), entries.end(), [](const ParsedMetrics& x, const ParsedMetrics& y) {
    if (x.has_id != y.has_id) return !x.has_id;
    return x.agent_id < y.agent_id;
  });
  StringIndex index(entries.size());
  for (const ParsedMetrics& e : entries) {
    // agent_id is the primary key: each id once, so an entry's index is its position.
    if (e.has_id) {
      index.add(e.agent_id);
    } else {
      index.add_anonymous();
    }
  }
  report(ScanProgress::Phase::metrics, known_agents);

  auto bad = read_bad_timestamps(*conn_);
  if (!bad.ok()) return bad.status();

  WindowAggregate window(entries.size());
  {
    auto stmt = conn_->prepare(sql::kWindowActionsAll);
    if (!stmt.ok()) return stmt.status();
    stmt->bind(1, std::string_view(now_iso));
    std::int64_t rows = 0;
    for (;;) {
      auto r = stmt->step();
      if (!r.ok()) return r.status();
      if (!*r) break;
      if (++rows % kProgressEvery == 0) report(ScanProgress::Phase::actions, rows);
      const std::uint32_t at = index.find(stmt->column_text(0));
      if (at == StringIndex::kNotFound) continue;
      window.add(at, stmt->column_text(1), stmt->column_int(2) != 0, stmt->column_int(3) != 0,
                 stmt->column_int(4));
    }
    report(ScanProgress::Phase::actions, rows);
  }

  std::vector<std::int64_t> violation_counts(entries.size(), 0);
  {
    auto stmt = conn_->prepare(sql::kWindowViolationsAll);
    if (!stmt.ok()) return stmt.status();
    stmt->bind(1, std::string_view(now_iso));
    for (;;) {
      auto r = stmt->step();
      if (!r.ok()) return r.status();
      if (!*r) break;
      const std::uint32_t at = index.find(stmt->column_text(0));
      if (at != StringIndex::kNotFound) violation_counts[at] = stmt->column_int(1);
    }
  }

  for (std::uint32_t i = 0; i < entries.size(); ++i) {
    ParsedMetrics& e = entries[i];
    if (e.problem.empty() && e.has_id) {
      if (auto problem = bad->problem_of(e.agent_id)) e.problem = std::move(*problem);
    }
    if (!e.problem.empty()) {
      sink({nullptr, AgentProblem{std::move(e.agent_id), std::move(e.problem)}});
      continue;
    }
    window.finish(i, *e.facts);
    e.facts->violations_30d = violation_counts[i];
    sink({std::move(e.facts), std::nullopt});
  }
  return Status::success();
}

Result<AllAgentFacts> Ledger::all_agent_facts(WallTime now, const ProgressFn& progress) {
  AllAgentFacts out;
  Status s = scan_agents(
      now,
      [&](AgentScanItem&& item) {
        if (item.problem) {
          out.problems.push_back(std::move(*item.problem));
        } else {
          out.agents.push_back(std::move(item.facts));
        }
      },
      progress);
  if (!s.ok()) return s;
  return out;
}

}  // namespace ps::engine
