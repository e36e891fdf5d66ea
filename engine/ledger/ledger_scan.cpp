// The all-agents pass behind `eligible`: one grouped query per fact kind, never a query per
// agent.
//
// Most of the time goes into stepping the window-actions query (millions of rows). With more
// than one CPU, disjoint agent_id ranges of it are stepped on extra read connections by
// worker threads (ParallelWindowScan), while this thread reads agent_metrics and violations
// and hands agents to the sink in order, exactly as the sequential merge does.
//
// With migration 1 the three ordered queries (metrics, window actions, window violations)
// all come in agent_id order and are merged, so each agent's facts are complete when the
// scan moves past it: the sink gets them at once and memory stays constant however many
// agents there are. Without the indexes, one pass over each table is aggregated in memory
// first (slower, same results: the differential tests check both paths).
#include <algorithm>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "engine/ledger/ledger.h"
#include "engine/base/mutex.h"
#include "engine/ledger/ledger_rows.h"
#include "engine/ledger/ledger_sql.h"
#include "engine/ledger/window_aggregate.h"

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

// One row of the kWindowActionsByAgent* queries (m.rowid, action, flags, id) into slot 0.
void add_window_row(WindowAggregate& window, const sqlite::Statement& row) {
  const std::int64_t flags = row.column_int(2);  // 1 = success, 2 = successful execution
  window.add(0, row.column_text(1), (flags & 1) != 0, (flags & 2) != 0, row.column_int(3));
}

// The window facts of one agent, as a worker computed them.
struct ChunkAgent {
  std::int64_t metrics_rowid = 0;
  std::int64_t total = 0, successful = 0, executions = 0;
  std::vector<std::string> action_types;
};

// Steps the window-actions query of agent_id ranges ("chunks") on worker threads, each with
// its own read connection, and gives the results back in agent order.
//
// Same snapshot: every worker's read transaction starts while the caller's (on the ledger's
// connection) holds its SHARED lock. In a rollback-journal ledger no writer can commit while
// any SHARED lock is held, so nothing can commit between the caller's start and a worker's:
// all read the same state. A WAL ledger gives no such guarantee (each transaction reads the
// latest commit when it starts), so start() declines and the scan runs sequentially. A worker
// that cannot start its read at once (a writer is waiting for the caller to finish and holds
// PENDING) also makes start() decline: waiting would deadlock against that writer until the
// busy timeout.
//
// Memory stays bounded: a worker takes chunk k only once the caller has consumed chunk
// k - 2 * threads.
class ParallelWindowScan {
 public:
  ~ParallelWindowScan() {
    {
      ps::MutexLock lock(mu_);
      abort_ = true;
    }
    cv_.notify_all();
    for (std::thread& t : threads_) t.join();
  }

  // nullptr: scan sequentially (see above). An error only for a failing query on `main`.
  static Result<std::unique_ptr<ParallelWindowScan>> start(sqlite::Connection& main,
                                                           const std::string& now_iso,
                                                           unsigned threads,
                                                           std::int64_t chunk_agents) {
    std::unique_ptr<ParallelWindowScan> none;
    if (threads <= 1 || chunk_agents < 1) return none;
    auto mode = main.prepare("PRAGMA journal_mode");
    if (!mode.ok()) return mode.status();
    auto has_mode = mode->step();
    if (!has_mode.ok()) return has_mode.status();
    if (!*has_mode || mode->column_text(0) == "wal") return none;

    std::unique_ptr<ParallelWindowScan> scan(new ParallelWindowScan(now_iso));
    auto starts = main.prepare(sql::kAgentRangeStarts);
    if (!starts.ok()) return starts.status();
    starts->bind(1, chunk_agents);
    for (;;) {
      auto r = starts->step();
      if (!r.ok()) return r.status();
      if (!*r) break;
      scan->chunks_.emplace_back().lo = std::string(starts->column_text(0));
    }
    if (scan->chunks_.size() < 2) return none;
    for (std::size_t i = 0; i + 1 < scan->chunks_.size(); ++i) {
      scan->chunks_[i].hi = scan->chunks_[i + 1].lo;
    }
    threads = static_cast<unsigned>(std::min<std::size_t>(threads, scan->chunks_.size()));
    scan->max_ahead_ = 2 * threads;

    std::vector<std::unique_ptr<sqlite::Connection>> conns;
    for (unsigned i = 0; i < threads; ++i) {
      auto conn = sqlite::Connection::open_existing(main.path(), 0);
      if (!conn.ok()) return none;
      // The read transaction starts with its first read; busy timeout 0: see above.
      if (!(*conn)->exec("PRAGMA query_only = ON; BEGIN DEFERRED").ok()) return none;
      auto first = (*conn)->prepare("SELECT count(*) FROM sqlite_master");
      if (!first.ok() || !first->step().ok()) return none;
      conns.push_back(std::move(conn).value());
    }
    for (auto& conn : conns) {
      scan->threads_.emplace_back([s = scan.get(), c = std::move(conn)]() mutable {
        s->work(*c);
      });
    }
    return scan;
  }

  unsigned threads() const { return static_cast<unsigned>(threads_.size()); }
  std::int64_t rows() const { return rows_.load(std::memory_order_relaxed); }

  // Called for each agent_metrics row in order: fills `facts`' window fields when the agent
  // has window rows, otherwise leaves them zero.
  Status take(std::int64_t metrics_rowid, AgentFacts& facts) {
    auto has = next_agent();
    if (!has.ok()) return has.status();
    if (!*has) return Status::success();
    ChunkAgent& a = chunks_[current_].agents[pos_];
    if (a.metrics_rowid != metrics_rowid) return Status::success();
    facts.total_actions = a.total;
    facts.successful_actions = a.successful;
    facts.successful_executions = a.executions;
    facts.action_types = std::move(a.action_types);
    ++pos_;
    return Status::success();
  }

  // After the last agent: every worker row must have been merged (a check of the merge).
  Status finish() {
    auto has = next_agent();
    if (!has.ok()) return has.status();
    if (!*has) return Status::success();
    return {Code::internal, "parallel scan: window rows of agent_metrics row " +
                                std::to_string(chunks_[current_].agents[pos_].metrics_rowid) +
                                " were not merged"};
  }

 private:
  struct Chunk {
    std::string lo;
    std::optional<std::string> hi;  // none: the last range
    std::vector<ChunkAgent> agents;
    bool done = false;
  };

  explicit ParallelWindowScan(std::string now_iso) : now_iso_(std::move(now_iso)) {}

  // Positions the merge on the next worker row (waiting for its chunk); false when every
  // chunk has been consumed. Consumed chunks are freed and let the workers run further ahead.
  Result<bool> next_agent() {
    while (current_ < chunks_.size()) {
      if (!ready_) {
        ps::MutexLock lock(mu_);
        const Chunk& c = chunks_[current_];
        while (!c.done && failure_.ok()) cv_.wait(lock);
        if (!failure_.ok()) return failure_;
        ready_ = true;
      }
      if (pos_ < chunks_[current_].agents.size()) return true;
      std::vector<ChunkAgent>().swap(chunks_[current_].agents);
      pos_ = 0;
      ready_ = false;
      ++current_;
      {
        ps::MutexLock lock(mu_);
        consumed_ = current_;
      }
      cv_.notify_all();
    }
    return false;
  }

  void work(sqlite::Connection& conn) {
    Status s = run(conn);
    if (!s.ok()) {
      ps::MutexLock lock(mu_);
      if (failure_.ok()) failure_ = s;
      abort_ = true;
    }
    cv_.notify_all();
    (void)conn.exec("COMMIT");
  }

  Status run(sqlite::Connection& conn) {
    auto bounded = conn.prepare(sql::kWindowActionsByAgentRange);
    if (!bounded.ok()) return bounded.status();
    auto open_ended = conn.prepare(sql::kWindowActionsByAgentFrom);
    if (!open_ended.ok()) return open_ended.status();
    WindowAggregate window(1);
    AgentFacts scratch;
    for (;;) {
      std::size_t k = 0;
      {
        ps::MutexLock lock(mu_);
        while (!abort_ && next_ < chunks_.size() && next_ >= consumed_ + max_ahead_) {
          cv_.wait(lock);
        }
        if (abort_ || next_ >= chunks_.size()) return Status::success();
        k = next_++;
      }
      Chunk& chunk = chunks_[k];  // this thread's alone until done is set
      sqlite::Statement& stmt = chunk.hi ? *bounded : *open_ended;
      stmt.reset();
      stmt.bind(1, std::string_view(now_iso_));
      stmt.bind(2, std::string_view(chunk.lo));
      if (chunk.hi) stmt.bind(3, std::string_view(*chunk.hi));
      std::int64_t rows = 0;
      bool have = false;
      std::int64_t agent = 0;
      auto flush = [&] {
        window.finish(0, scratch);
        chunk.agents.push_back({agent, scratch.total_actions, scratch.successful_actions,
                                scratch.successful_executions, std::move(scratch.action_types)});
        scratch.action_types = {};
      };
      for (;;) {
        auto r = stmt.step();
        if (!r.ok()) return r.status();
        if (!*r) break;
        const std::int64_t rowid = stmt.column_int(0);
        if (!have || rowid != agent) {
          if (have) flush();
          have = true;
          agent = rowid;
          window.reset(0);
        }
        add_window_row(window, stmt);
        ++rows;
      }
      if (have) flush();
      stmt.reset();
      rows_.fetch_add(rows, std::memory_order_relaxed);
      {
        ps::MutexLock lock(mu_);
        chunk.done = true;
      }
      cv_.notify_all();
    }
  }

  const std::string now_iso_;
  std::vector<Chunk> chunks_;
  std::vector<std::thread> threads_;
  std::size_t max_ahead_ = 2;
  std::atomic<std::int64_t> rows_{0};

  ps::Mutex mu_;
  ps::CondVar cv_;
  std::size_t next_ GUARDED_BY(mu_) = 0;  // the next chunk a worker takes
  std::size_t consumed_ GUARDED_BY(mu_) = 0;  // chunks the caller is done with
  bool abort_ GUARDED_BY(mu_) = false;
  Status failure_ GUARDED_BY(mu_);  // the first worker error

  // The caller's merge position (caller thread only).
  std::size_t current_ = 0;
  std::size_t pos_ = 0;
  bool ready_ = false;  // chunks_[current_].done was seen
};

// The sequential scan's window rows of the agent with agent_metrics `rowid`: the join walks
// agent_metrics in the same (unique) agent_id order, so they are next in `actions`; they are
// consumed even if the agent's row is invalid.
Status take_window_rows(OrderedCursor& actions, std::int64_t rowid, WindowAggregate& window,
                        std::int64_t& action_rows, std::int64_t agents,
                        const ProgressFn& progress) {
  window.reset(0);
  while (actions.valid() && actions.row().column_int(0) == rowid) {
    add_window_row(window, actions.row());
    if (++action_rows % kProgressEvery == 0 && progress) {
      progress({ScanProgress::Phase::actions, action_rows, agents});
    }
    if (Status st = actions.advance(); !st.ok()) return st;
  }
  return Status::success();
}

// The agent's window violations (consumed from the ordered cursor `v`) and its unparseable
// timestamps; `window` (sequential scan only) is finished into the facts.
Status complete_agent(ParsedMetrics& parsed, OrderedCursor& v, const BadTimestamps& bad,
                      const LastDemotions& demoted, WindowAggregate* window) {
  if (!parsed.has_id) return Status::success();
  const std::string_view id = parsed.agent_id;
  if (Status st = v.skip_before(id); !st.ok()) return st;
  std::int64_t violation_count = 0;
  if (v.valid() && v.agent() == id) {
    violation_count = v.row().column_int(1);
    if (Status st = v.advance(); !st.ok()) return st;
  }
  if (parsed.problem.empty()) {
    if (auto problem = bad.problem_of(id)) parsed.problem = std::move(*problem);
  }
  if (parsed.problem.empty()) {
    if (window) window->finish(0, *parsed.facts);
    parsed.facts->violations_30d = violation_count;
    if (auto it = demoted.find(id); it != demoted.end()) parsed.facts->last_demotion_at = it->second;
  }
  return Status::success();
}

void emit(ParsedMetrics& parsed, const AgentSink& sink) {
  if (!parsed.problem.empty()) {
    sink({nullptr, AgentProblem{std::move(parsed.agent_id), std::move(parsed.problem)}});
  } else {
    sink({std::move(parsed.facts), std::nullopt});
  }
}

// Every agent_metrics row, parsed, in the reference's `eligible` order: agent_id by BINARY
// collation (bytewise, like std::string's compare), rows without a usable id first (as SQLite
// sorts NULL).
Result<std::vector<ParsedMetrics>> read_metrics_in_order(
    sqlite::Connection& conn, const std::function<void(std::int64_t)>& report) {
  std::vector<ParsedMetrics> entries;
  auto stmt = conn.prepare(sql::kMetricsAll);
  if (!stmt.ok()) return stmt.status();
  const MetricsLayout layout = layout_of(*stmt);
  for (;;) {
    auto r = stmt->step();
    if (!r.ok()) return r.status();
    if (!*r) break;
    entries.push_back(parse_metrics_row(*stmt, layout));
    if (entries.size() % kProgressEvery == 0) report(static_cast<std::int64_t>(entries.size()));
  }
  std::stable_sort(entries.begin(), entries.end(),
                   [](const ParsedMetrics& x, const ParsedMetrics& y) {
                     if (x.has_id != y.has_id) return !x.has_id;
                     return x.agent_id < y.agent_id;
                   });
  return entries;
}

// Window violations per agent, by the agent's position in `index`.
Result<std::vector<std::int64_t>> count_window_violations(sqlite::Connection& conn,
                                                          const std::string& now_iso,
                                                          const StringIndex& index,
                                                          std::size_t agents) {
  std::vector<std::int64_t> counts(agents, 0);
  auto stmt = conn.prepare(sql::kWindowViolationsAll);
  if (!stmt.ok()) return stmt.status();
  stmt->bind(1, std::string_view(now_iso));
  for (;;) {
    auto r = stmt->step();
    if (!r.ok()) return r.status();
    if (!*r) break;
    const std::uint32_t at = index.find(stmt->column_text(0));
    if (at != StringIndex::kNotFound) counts[at] = stmt->column_int(1);
  }
  return counts;
}

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
  last_scan_threads_ = 0;
  auto bad = read_bad_timestamps(*conn_);
  if (!bad.ok()) return bad.status();
  auto demoted = read_last_demotions(*conn_);
  if (!demoted.ok()) return demoted.status();

  unsigned threads = options_.scan_threads;
  if (threads == 0) threads = std::clamp(std::thread::hardware_concurrency(), 1u, 4u);
  auto parallel =
      ParallelWindowScan::start(*conn_, now_iso, threads, options_.scan_chunk_agents);
  if (!parallel.ok()) return parallel.status();
  std::unique_ptr<ParallelWindowScan> workers = std::move(parallel).value();
  if (workers) last_scan_threads_ = workers->threads();

  auto metrics = conn_->prepare(sql::kMetricsOrdered);
  auto violations = conn_->prepare(sql::kWindowViolationsAll);
  for (const auto* st : {&metrics, &violations}) {
    if (!st->ok()) return st->status();
  }
  violations->bind(1, std::string_view(now_iso));
  const MetricsLayout layout = layout_of(*metrics);
  OrderedCursor v(std::move(violations).value());
  if (Status st = v.advance(); !st.ok()) return st;
  std::optional<OrderedCursor> actions;  // sequential: the window rows on this connection
  if (!workers) {
    auto stmt = conn_->prepare(sql::kWindowActionsByAgent);
    if (!stmt.ok()) return stmt.status();
    stmt->bind(1, std::string_view(now_iso));
    actions.emplace(std::move(stmt).value());
    if (Status st = actions->advance(); !st.ok()) return st;
  }

  std::int64_t agents = 0, action_rows = 0, reported = 0;
  WindowAggregate window(1);
  for (;;) {
    auto r = metrics->step();
    if (!r.ok()) return r.status();
    if (!*r) break;
    ++agents;
    ParsedMetrics parsed = parse_metrics_row(*metrics, layout);
    AgentFacts* facts = parsed.problem.empty() ? parsed.facts.get() : nullptr;
    if (workers) {
      // The workers' rows of this agent, if any (consumed even if its row is invalid).
      AgentFacts scratch;
      if (Status st = workers->take(parsed.rowid, facts ? *facts : scratch); !st.ok()) return st;
      action_rows = workers->rows();
      if (progress && action_rows - reported >= kProgressEvery) {
        reported = action_rows;
        progress({ScanProgress::Phase::actions, action_rows, agents});
      }
    } else if (Status st = take_window_rows(*actions, parsed.rowid, window, action_rows, agents,
                                            progress);
               !st.ok()) {
      return st;
    }
    if (Status st = complete_agent(parsed, v, *bad, *demoted, workers ? nullptr : &window);
        !st.ok()) {
      return st;
    }
    emit(parsed, sink);
  }
  if (workers) {
    if (Status st = workers->finish(); !st.ok()) return st;
    action_rows = workers->rows();
  }
  if (progress) progress({ScanProgress::Phase::actions, action_rows, agents});
  return Status::success();
}

// Without migration 1's indexes: one pass per table, aggregated by agent in memory.
Status Ledger::scan_in_memory(const std::string& now_iso, const AgentSink& sink,
                              const ProgressFn& progress) {
  std::int64_t known_agents = 0;
  auto report = [&](ScanProgress::Phase phase, std::int64_t rows) {
    if (progress) progress({phase, rows, known_agents});
  };
  auto read = read_metrics_in_order(
      *conn_, [&](std::int64_t rows) {
        known_agents = rows;
        report(ScanProgress::Phase::metrics, rows);
      });
  if (!read.ok()) return read.status();
  std::vector<ParsedMetrics>& entries = *read;
  known_agents = static_cast<std::int64_t>(entries.size());
  StringIndex index(entries.size());
  for (const ParsedMetrics& e : entries) {
    // agent_id is the primary key: each id once, so an entry's index is its position.
    e.has_id ? index.add(e.agent_id) : index.add_anonymous();
  }
  report(ScanProgress::Phase::metrics, known_agents);

  auto bad = read_bad_timestamps(*conn_);
  if (!bad.ok()) return bad.status();
  auto demoted = read_last_demotions(*conn_);
  if (!demoted.ok()) return demoted.status();
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
  auto violations = count_window_violations(*conn_, now_iso, index, entries.size());
  if (!violations.ok()) return violations.status();

  for (std::uint32_t i = 0; i < entries.size(); ++i) {
    ParsedMetrics& e = entries[i];
    if (e.problem.empty() && e.has_id) {
      if (auto problem = bad->problem_of(e.agent_id)) e.problem = std::move(*problem);
    }
    if (e.problem.empty()) {
      window.finish(i, *e.facts);
      e.facts->violations_30d = (*violations)[i];
      if (auto it = demoted->find(e.agent_id); it != demoted->end()) {
        e.facts->last_demotion_at = it->second;
      }
    }
    emit(e, sink);
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
