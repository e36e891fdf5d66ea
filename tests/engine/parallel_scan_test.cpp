// The all-agents scan with worker threads (engine/ledger_scan.cpp, ParallelWindowScan): the
// same facts, in the same order, as the sequential merge, whatever the thread count and chunk
// size; one snapshot across all connections while the platform commits; WAL ledgers and
// single-chunk ledgers scanned sequentially.
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <thread>

#include <sqlite3.h>

#include "engine/rules/evaluation_json.h"
#include "engine/ledger/ledger.h"
#include "engine/ledger/ledger_sql.h"
#include "tests/support/engine_printers.h"
#include "tests/support/facts_text.h"
#include "tests/support/ledger_gen.h"
#include "tests/support/poll.h"
#include "tests/support/test_support.h"

using namespace ps::engine;
using ps::Status;
using ps::testing::q;
using ps::testing::RawLedger;
using ps::testing::TempDir;
using ps::testing::try_exec;

namespace {

const WallTime kNow = *parse_iso8601("2026-11-25T10:15:30.123456+00:00");

std::unique_ptr<Ledger> open_with(const std::string& path, unsigned threads,
                                  std::int64_t chunk) {
  LedgerOptions o;
  o.path = path;
  o.busy_timeout_ms = 10000;
  o.read_only = true;
  o.scan_threads = threads;
  o.scan_chunk_agents = chunk;
  auto l = Ledger::open(o);
  BOOST_REQUIRE_MESSAGE(l.ok(), l.status().message());
  return std::move(l).value();
}

std::string scan_text(Ledger& l) { return ps::testing::all_facts_text(l, kNow); }

std::string generated(const TempDir& dir, std::int64_t agents, std::int64_t actions,
                      std::uint64_t seed) {
  ps::testing::GenOptions o;
  std::string name = "g";  // not "g" + std::to_string(seed): a GCC 12 -Wrestrict false positive
  name += std::to_string(seed);
  o.out = dir.file(name + ".db");
  o.schema_path = ps::testing::upstream_schema_path();
  o.agents = agents;
  o.actions = actions;
  o.seed = seed;
  o.now = kNow;
  o.invalid = true;
  ps::testing::generate_ledger(o);
  auto l = Ledger::open({o.out});
  BOOST_REQUIRE(l.ok());
  BOOST_REQUIRE((*l)->migrate(kNow).ok());
  return o.out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(parallel_scan)

BOOST_AUTO_TEST_CASE(same_facts_as_sequential_for_every_thread_count_and_chunk_size) {
  TempDir dir;
  const std::string path = generated(dir, 900, 40000, 21);
  // Odd ids around the chunk bounds: NULL (reported), the empty string, a BLOB id with window
  // rows (sorts after every text: the last, open-ended range), ids that are prefixes of each
  // other.
  {
    RawLedger raw(path);
    raw.exec("INSERT INTO agent_metrics (agent_id) VALUES (NULL)");
    raw.metrics("", 1, 5, 3);
    raw.metrics("agent-0001", 1, 5, 3);
    raw.metrics("agent-0001x", 1, 5, 3);
    raw.exec("INSERT INTO agent_metrics (agent_id, current_tier, compliant_runs, "
             "consecutive_compliant, total_runs) VALUES (X'00ff', 1, 5, 3, 0)");
    const std::string ts = ps::testing::iso_at(kNow, std::chrono::seconds(-3600));
    raw.action("", ts, "read", "EXECUTE", 1);
    raw.action("agent-0001", ts, "read", "EXECUTE", 1);
    raw.action("agent-0001x", ts, "write", "EXECUTE", 0);
    raw.exec("INSERT INTO agent_actions (agent_id, timestamp, action, decision, success) "
             "VALUES (X'00ff', " + q(ts) + ", 'read', 'EXECUTE', 1)");
  }
  auto sequential = open_with(path, 1, 64);
  const std::string expected = scan_text(*sequential);
  BOOST_TEST(sequential->last_scan_threads() == 0u);
  BOOST_TEST(expected.find("\"total_actions\"") != std::string::npos);
  for (unsigned threads : {2u, 3u, 4u}) {
    for (std::int64_t chunk : {1, 2, 7, 64, 450, 903}) {
      auto l = open_with(path, threads, chunk);
      BOOST_TEST(scan_text(*l) == expected, "threads " << threads << ", chunk " << chunk);
      BOOST_TEST(l->last_scan_threads() > 0u, "threads " << threads << ", chunk " << chunk);
    }
  }
  // One chunk (every agent in it) or no workers asked for: sequential, same result.
  auto one_chunk = open_with(path, 4, 1000000);
  BOOST_TEST(scan_text(*one_chunk) == expected);
  BOOST_TEST(one_chunk->last_scan_threads() == 0u);
}

BOOST_AUTO_TEST_CASE(every_seed_agrees_with_the_sequential_merge) {
  TempDir dir;
  for (std::uint64_t seed : {3u, 4u, 5u}) {
    const std::string path = generated(dir, 700 + 100 * seed, 30000, seed);
    auto sequential = open_with(path, 1, 128);
    auto parallel = open_with(path, 2, 128);
    BOOST_TEST(scan_text(*parallel) == scan_text(*sequential), "seed " << seed);
    BOOST_TEST(parallel->last_scan_threads() == 2u);
  }
}

// The platform commits while `eligible` runs: a transaction that adds one window action to the
// first agent and one to the last (different chunks, different worker connections). Every
// scan must see both or neither: the workers read the same snapshot as the merging thread.
void concurrent_commits_are_seen_whole(bool wal) {
  TempDir dir;
  const std::string path = generated(dir, 600, 20000, 31);
  if (wal) RawLedger(path).exec("PRAGMA journal_mode = WAL");
  auto l = open_with(path, 2, 16);
  std::string first, last;  // the first and last valid agents: the first and last chunks
  {
    auto all = l->all_agent_facts(kNow);
    BOOST_REQUIRE(all.ok());
    BOOST_REQUIRE(all->agents.size() > 100u);
    first = all->agents.front()->agent_id;
    last = all->agents.back()->agent_id;
  }
  auto totals = [&](Ledger& ledger, bool& ok) -> std::pair<std::int64_t, std::int64_t> {
    auto all = ledger.all_agent_facts(kNow);
    ok = all.ok();
    BOOST_TEST(ok, all.status().message());
    if (!ok) return {-1, -1};
    std::int64_t a = -1, b = -1;
    for (const auto& f : all->agents) {
      if (f->agent_id == first) a = f->total_actions;
      if (f->agent_id == last) b = f->total_actions;
    }
    return {a, b};
  };
  bool ok = false;
  const auto base = totals(*l, ok);
  BOOST_REQUIRE(ok);
  BOOST_REQUIRE(base.first >= 0);
  BOOST_REQUIRE(base.second >= 0);

  std::atomic<bool> stop{false};
  std::atomic<int> commits{0};
  std::thread writer([&] {
    RawLedger w(path);
    const std::string ts = ps::testing::iso_at(kNow, std::chrono::seconds(-60));
    while (!stop.load()) {
      w.exec("BEGIN IMMEDIATE");
      w.action(first, ts, "read", "EXECUTE", 1);
      w.action(last, ts, "read", "EXECUTE", 1);
      w.exec("COMMIT");
      commits.fetch_add(1);
      // A platform writes now and then; a writer in a tight loop would starve every reader
      // (SQLite's rollback-journal locking has no fairness), sequential or not.
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  int scans = 0, parallel_scans = 0, torn = 0, failed = 0;
  while (scans < 40 || commits.load() < 20) {
    const auto t = totals(*l, ok);
    ++scans;
    if (!ok) {
      ++failed;
    } else if (t.first - base.first != t.second - base.second) {
      ++torn;
    }
    if (l->last_scan_threads() > 0) ++parallel_scans;
    if (scans > 2000) break;
  }
  stop.store(true);
  writer.join();
  BOOST_TEST(torn == 0);
  BOOST_TEST(failed == 0);
  const auto end = totals(*l, ok);
  BOOST_TEST(end.first - base.first == commits.load());
  BOOST_TEST(end.second - base.second == commits.load());
  BOOST_TEST(commits.load() >= 20);
  // Rollback journal: whether a scan gets its workers depends on where the writer is when it
  // starts (a writer waiting to commit makes it decline), so the count is not asserted here;
  // a_commit_attempted_during_a_parallel_scan_waits_for_it makes both happen for certain.
  if (wal) BOOST_TEST(parallel_scans == 0);  // no common snapshot guaranteed: sequential
  BOOST_TEST_MESSAGE(scans << " scans (" << parallel_scans << " with workers), " << commits.load()
                           << " commits");
}

BOOST_AUTO_TEST_CASE(concurrent_commits_are_seen_whole_rollback_journal) {
  concurrent_commits_are_seen_whole(false);
}

BOOST_AUTO_TEST_CASE(wal_ledger_is_scanned_sequentially_and_consistently) {
  concurrent_commits_are_seen_whole(true);
}

// Deterministic: the platform holds uncommitted rows for the first and the last agent (RESERVED,
// which lets readers start) when a scan starts, so the scan gets its workers; at the first
// agent the platform tries to COMMIT and the scan goes on only once that commit is waiting
// (it holds PENDING: a new read is refused). The last agent is read by a worker after that
// point and must still show the snapshot without the rows; the commit lands after the scan.
BOOST_AUTO_TEST_CASE(a_commit_attempted_during_a_parallel_scan_waits_for_it) {
  TempDir dir;
  const std::string path = generated(dir, 600, 20000, 33);
  auto l = open_with(path, 2, 16);
  auto before = l->all_agent_facts(kNow);
  BOOST_REQUIRE(before.ok());
  const std::string first = before->agents.front()->agent_id;
  const std::string last = before->agents.back()->agent_id;
  const std::int64_t first_total = before->agents.front()->total_actions;
  const std::int64_t last_total = before->agents.back()->total_actions;

  RawLedger platform(path);
  const std::string ts = ps::testing::iso_at(kNow, std::chrono::seconds(-60));
  platform.exec("BEGIN IMMEDIATE");
  platform.action(first, ts, "read", "EXECUTE", 1);
  platform.action(last, ts, "read", "EXECUTE", 1);
  std::thread committer;
  bool commit_waited = false;
  int committed = -1;  // the COMMIT's result code
  std::int64_t seen_first = -1, seen_last = -1;
  // True once a new read is refused: the COMMIT holds PENDING and waits for the scan.
  auto commit_is_waiting = [&] {
    RawLedger probe(path);
    sqlite3_busy_timeout(probe.handle(), 0);
    return ps::testing::poll_until([&] {
      try_exec(probe.handle(), "BEGIN");
      const int rc = try_exec(probe.handle(), "SELECT count(*) FROM sqlite_master");
      try_exec(probe.handle(), "ROLLBACK");
      return rc == SQLITE_BUSY;
    });
  };
  Status s = l->scan_agents(kNow, [&](AgentScanItem&& item) {
    if (!item.facts) return;
    if (!committer.joinable()) {
      committer = std::thread([&] { committed = try_exec(platform.handle(), "COMMIT"); });
      commit_waited = commit_is_waiting();
    }
    if (item.facts->agent_id == first) seen_first = item.facts->total_actions;
    if (item.facts->agent_id == last) seen_last = item.facts->total_actions;
  });
  if (committer.joinable()) committer.join();
  BOOST_REQUIRE_MESSAGE(s.ok(), s.message());
  BOOST_TEST(l->last_scan_threads() == 2u);
  BOOST_TEST(commit_waited);
  BOOST_TEST(committed == SQLITE_OK);
  BOOST_TEST(seen_first == first_total);
  BOOST_TEST(seen_last == last_total);

  auto after = l->all_agent_facts(kNow);
  BOOST_REQUIRE(after.ok());
  BOOST_TEST(after->agents.front()->total_actions == first_total + 1);
  BOOST_TEST(after->agents.back()->total_actions == last_total + 1);
}

BOOST_AUTO_TEST_CASE(range_queries_walk_the_indexes_without_sorting) {
  TempDir dir;
  const std::string path = dir.file("l.db");
  { RawLedger create(path, true); }
  BOOST_REQUIRE((*Ledger::open({path}))->migrate(kNow).ok());
  RawLedger fresh(path);
  auto plan = [&](std::string_view query) {
    std::string out;
    for (const auto& row : fresh.rows("EXPLAIN QUERY PLAN " + std::string(query))) out += row + "\n";
    return out;
  };
  for (std::string_view query : {sql::kWindowActionsByAgentRange, sql::kWindowActionsByAgentFrom}) {
    const std::string p = plan(query);
    BOOST_TEST(p.find("SEARCH m USING COVERING INDEX sqlite_autoindex_agent_metrics_1 (agent_id>?") !=
                   std::string::npos,
               p);
    BOOST_TEST(p.find("SEARCH a USING INDEX sidecar_actions_agent_window (agent_id=? AND <expr>>?)") !=
                   std::string::npos,
               p);
    BOOST_TEST(p.find("TEMP B-TREE") == std::string::npos, p);
  }
  const std::string starts = plan(sql::kAgentRangeStarts);
  BOOST_TEST(starts.find("COVERING INDEX sqlite_autoindex_agent_metrics_1") != std::string::npos,
             starts);
  BOOST_TEST(starts.find("TEMP B-TREE") == std::string::npos, starts);
}

BOOST_AUTO_TEST_SUITE_END()
