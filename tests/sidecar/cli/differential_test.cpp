// policy-sidecar against the reference engine (tests/support/reference/promotion_engine.py,
// run unchanged through tests/support/reference_harness.py with `now` pinned and NULL sums
// counted as 0) on generated ledgers: every agent's evaluation, byte for byte, and the text
// and JSON of every read command.
#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <map>

#include "engine/rules/evaluation_json.h"
#include "engine/ledger/ledger.h"
#include "tests/support/engine_printers.h"
#include "tests/support/ledger_gen.h"
#include "tests/support/test_support.h"

using ps::Code;
using ps::Result;
using ps::Status;

using namespace ps::engine;
using namespace ps::testing;

namespace {

const char* kNowIso = "2026-11-25T10:15:30.123456+00:00";
const WallTime kNow = *parse_iso8601(kNowIso);

std::string generate(const TempDir& dir, const std::string& name, std::uint64_t seed,
                     std::int64_t agents, std::int64_t actions) {
  GenOptions o;
  o.out = dir.file(name);
  o.schema_path = upstream_schema_path();
  o.agents = agents;
  o.actions = actions;
  o.seed = seed;
  o.now = kNow;
  generate_ledger(o);
  return o.out;
}

// Every agent's evaluation as the harness's eval-all prints it (json.dumps(list, indent=2)).
std::string ours_all(const std::string& db, std::vector<Evaluation>* keep = nullptr) {
  auto ledger = Ledger::open({db, 5000, true});
  BOOST_REQUIRE_MESSAGE(ledger.ok(), ledger.status().message());
  std::string out;
  PyJsonWriter w(out, PyJsonWriter::Style::indent2);
  w.begin_array();
  const Status s = (*ledger)->scan_agents(kNow, [&](AgentScanItem&& item) {
    BOOST_REQUIRE(!item.problem);
    Evaluation e = evaluate(std::move(item.facts), Rules::defaults(), kNow);
    write_evaluation(w, e);
    if (keep) keep->push_back(std::move(e));
  });
  BOOST_REQUIRE_MESSAGE(s.ok(), s.message());
  w.end_array();
  return out + "\n";
}

ProcessResult harness(const std::string& db, std::vector<std::string> args,
                      const std::vector<std::string>& flags = {}) {
  std::vector<std::string> argv = {system_python(), reference_harness(), "--db", db, "--now", kNowIso};
  argv.insert(argv.end(), flags.begin(), flags.end());
  argv.insert(argv.end(), args.begin(), args.end());
  return run_process(argv);
}

ProcessResult ours(const std::string& db, std::vector<std::string> args) {
  std::vector<std::string> argv = {sidecar_binary(), "--db", db, "--now", kNowIso};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_process(argv);
}

// Where two long documents first differ, with a little context (never the whole document).
std::string first_difference(const std::string& a, const std::string& b) {
  std::size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
  const std::size_t from = i > 300 ? i - 300 : 0;
  return "at byte " + std::to_string(i) + "\n--- reference:\n" + a.substr(from, 600) +
         "\n--- policy-sidecar:\n" + b.substr(from, 600);
}

void expect_same(const std::string& what, const std::string& reference, const std::string& mine) {
  BOOST_TEST(reference == mine, what << ": " << (reference == mine ? "" : first_difference(reference, mine)));
}

struct Mix {
  std::map<std::string, int> by_status;
  int max_tier = 0, no_recent_actions_above_tier0 = 0;
};

Mix mix_of(const std::vector<Evaluation>& all) {
  Mix m;
  for (const Evaluation& e : all) {
    ++m.by_status[status_name(e.status)];
    if (e.evidence.kind == Evidence::Kind::max_tier) ++m.max_tier;
    if (e.evidence.kind == Evidence::Kind::full && e.current_tier > 0 &&
        e.evidence.facts->total_actions == 0) {
      ++m.no_recent_actions_above_tier0;
    }
  }
  return m;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(differential)

// Seeds and sizes: 3 ledgers, 9,500 agents in all, ~40 actions per agent, compared after
// migration (the reference then uses the sidecar's index for its per-agent queries).
BOOST_AUTO_TEST_CASE(every_agent_evaluates_identically_on_generated_ledgers) {
  const struct {
    std::uint64_t seed;
    std::int64_t agents, actions;
  } ledgers[] = {{1, 3000, 120000}, {2, 2500, 100000}, {3, 4000, 160000}};
  for (const auto& l : ledgers) {
    TempDir dir;
    const std::string db = generate(dir, "g.db", l.seed, l.agents, l.actions);
    std::vector<Evaluation> evaluations;
    const std::string unmigrated = ours_all(db, &evaluations);
    {
      auto ledger = Ledger::open({db});
      BOOST_REQUIRE(ledger.ok() && (*ledger)->migrate(kNow).ok());
    }
    const std::string migrated = ours_all(db);
    BOOST_TEST(unmigrated == migrated, "seed " << l.seed << ": results depend on the indexes");

    const ProcessResult ref = harness(db, {"eval-all"});
    BOOST_REQUIRE_MESSAGE(ref.exit_code == 0, ref.err);
    expect_same("seed " + std::to_string(l.seed), ref.out, migrated);

    Mix m = mix_of(evaluations);
    BOOST_TEST_MESSAGE("seed " << l.seed << ": " << evaluations.size() << " agents, ELIGIBLE "
                       << m.by_status["ELIGIBLE"] << ", PENDING_REVIEW " << m.by_status["PENDING_REVIEW"]
                       << ", NOT_ELIGIBLE " << m.by_status["NOT_ELIGIBLE"] << " (max tier " << m.max_tier
                       << ", no recent actions above T0 " << m.no_recent_actions_above_tier0 << ")");
    BOOST_TEST(evaluations.size() == static_cast<std::size_t>(l.agents));
    BOOST_TEST(m.by_status["ELIGIBLE"] > 100);
    BOOST_TEST(m.by_status["PENDING_REVIEW"] > 100);
    BOOST_TEST(m.by_status["NOT_ELIGIBLE"] > 500);
    BOOST_TEST(m.max_tier > 50);
    BOOST_TEST(m.no_recent_actions_above_tier0 > 50);
  }
}

// Without the sidecar's indexes the reference scans the whole table per agent, so this ledger
// is small; it pins the action_types order (first appearance) to the unindexed reference.
BOOST_AUTO_TEST_CASE(every_agent_evaluates_identically_on_an_unmigrated_ledger) {
  TempDir dir;
  const std::string db = generate(dir, "small.db", 4, 300, 6000);
  const ProcessResult ref = harness(db, {"eval-all"});
  BOOST_REQUIRE_MESSAGE(ref.exit_code == 0, ref.err);
  expect_same("unmigrated", ref.out, ours_all(db));
}

BOOST_AUTO_TEST_CASE(read_commands_print_the_same_bytes_as_the_reference) {
  TempDir dir;
  const std::string db = generate(dir, "g.db", 5, 2000, 80000);
  std::vector<Evaluation> all;
  ours_all(db, &all);
  BOOST_REQUIRE(ours(db, {"migrate"}).exit_code == 0);

  std::vector<std::string> sample = {"ghost", "agent-\xC3\xA9t\xC3\xA9-000011", "bot-\xF0\x9F\xA4\x96-000023",
                                     "agent \"quoted\" \\000037"};
  std::map<std::string, bool> picked;
  for (const Evaluation& e : all) {
    std::string kind = status_name(e.status);
    if (e.evidence.kind == Evidence::Kind::max_tier) kind = "max";
    if (e.evidence.kind == Evidence::Kind::full && e.evidence.facts->total_actions == 0) kind = "idle";
    if (!picked[kind]) {
      picked[kind] = true;
      sample.push_back(e.agent_id);
    }
  }
  BOOST_TEST(picked.size() == 5u);

  std::vector<std::vector<std::string>> commands = {
      {"eligible"}, {"eligible", "--json"}, {"history"}, {"history", "--json"},
      {"history", "--limit", "7"}, {"history", "--limit", "-1", "--json"},
      {"requirements"}, {"requirements", "--tier", "2"}, {"requirements", "--tier", "9"}};
  const std::string promoted = all.front().agent_id;
  commands.push_back({"history", "--agent-id", promoted});
  for (const std::string& agent : sample) {
    commands.push_back({"evaluate", agent});
    commands.push_back({"evaluate", agent, "--json"});
  }
  for (const auto& args : commands) {
    std::vector<std::string> cli = {"cli"};
    cli.insert(cli.end(), args.begin(), args.end());
    const ProcessResult ref = harness(db, cli);
    const ProcessResult mine = ours(db, args);
    std::string what;
    for (const auto& a : args) what += a + " ";
    BOOST_TEST(ref.exit_code == 0, what << ref.err);
    BOOST_TEST(mine.exit_code == 0, what << mine.err);
    expect_same(what, ref.out, mine.out);
  }
}

BOOST_AUTO_TEST_CASE(promote_writes_the_same_rows_as_the_reference) {
  TempDir dir;
  const std::string db = generate(dir, "g.db", 6, 500, 20000);
  std::vector<Evaluation> all;
  ours_all(db, &all);
  std::vector<std::string> promotable;
  for (const Evaluation& e : all) {
    if (is_promotable(e.status) && promotable.size() < 6) promotable.push_back(e.agent_id);
  }
  BOOST_REQUIRE(promotable.size() == 6u);
  const std::string theirs_db = dir.file("theirs.db"), mine_db = dir.file("mine.db");
  std::filesystem::copy_file(db, theirs_db);
  std::filesystem::copy_file(db, mine_db);
  for (std::size_t i = 0; i < promotable.size(); ++i) {
    std::vector<std::string> args = {"promote", promotable[i], "--approved-by", "alice"};
    if (i % 2 == 1) args.insert(args.end(), {"--rationale", "reviewed in the weekly meeting"});
    std::vector<std::string> cli = {"cli"};
    cli.insert(cli.end(), args.begin(), args.end());
    const ProcessResult ref = harness(theirs_db, cli);
    BOOST_REQUIRE_MESSAGE(ref.exit_code == 0, ref.out + ref.err);
    const ProcessResult mine = ours(mine_db, args);
    BOOST_REQUIRE_MESSAGE(mine.exit_code == 0, mine.out + mine.err);
    BOOST_TEST(mine.out.find("[OK] Promoted " + promotable[i]) == 0u);
  }
  RawLedger theirs(theirs_db), mine(mine_db);
  for (const char* query : {"SELECT * FROM agent_metrics ORDER BY rowid", "SELECT * FROM promotions ORDER BY id"}) {
    const auto a = theirs.rows(query), b = mine.rows(query);
    BOOST_REQUIRE(a.size() == b.size());
    for (std::size_t i = 0; i < a.size(); ++i) BOOST_TEST(a[i] == b[i]);
  }
}

// Regression, defect of the reference: SUM() over an empty 30-day window is NULL and the
// reference crashes with a TypeError (one idle tier-1 agent breaks `eligible` for everyone).
BOOST_AUTO_TEST_CASE(idle_tier1_agent_crashes_the_reference_but_not_policy_sidecar) {
  TempDir dir;
  const std::string db = dir.file("l.db");
  {
    RawLedger raw(db, true);
    raw.metrics("idle", 1, 12, 6, 20);
    raw.metrics("ready", 0, 6, 4, 9);
    raw.action("ready", iso_at(kNow, std::chrono::seconds(-60)), "generate_plan", "PLAN_ONLY", 1);
  }
  const ProcessResult crash = harness(db, {"cli", "eligible"}, {"--keep-null-sums"});
  BOOST_TEST(crash.exit_code != 0);
  BOOST_TEST(crash.err.find("TypeError") != std::string::npos, crash.err);
  const ProcessResult fixed = harness(db, {"cli", "eligible"});
  const ProcessResult mine = ours(db, {"eligible"});
  BOOST_TEST(mine.exit_code == 0);
  BOOST_TEST(mine.out.find("[READY] ready") != std::string::npos);
  expect_same("eligible with an idle tier-1 agent", fixed.out, mine.out);
}

BOOST_AUTO_TEST_SUITE_END()
