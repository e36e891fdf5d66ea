// The ledger adapter: opening, fact queries and the 30-day window, invalid data, history.
#include <sys/stat.h>

#include <boost/test/unit_test.hpp>
#include <fstream>

#include "engine/rules/evaluation_json.h"
#include "engine/ledger/ledger.h"
#include "engine/ledger/ledger_sql.h"
#include "tests/support/facts_text.h"
#include "tests/support/ledger_gen.h"
#include "tests/support/test_support.h"
#include "tests/support/engine_printers.h"

using ps::Code;
using ps::Result;
using ps::Status;

using namespace ps::engine;
using ps::testing::q;
using ps::testing::RawLedger;
using ps::testing::TempDir;


namespace {

const WallTime kNow = *parse_iso8601("2026-11-25T10:15:30.123456+00:00");

std::string at(std::int64_t seconds) { return ps::testing::iso_at(kNow, std::chrono::seconds(seconds)); }
constexpr std::int64_t kDay = 86400;

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

std::unique_ptr<Ledger> open_ok(const std::string& path, bool read_only = false) {
  auto l = Ledger::open({path, 2000, read_only});
  BOOST_REQUIRE_MESSAGE(l.ok(), l.status().message());
  return std::move(l).value();
}

std::shared_ptr<const AgentFacts> facts_of(Ledger& l, const std::string& agent) {
  auto f = l.agent_facts(agent, kNow);
  BOOST_REQUIRE_MESSAGE(f.ok(), f.status().message());
  return *f;
}

std::string all_facts_json(Ledger& l) { return ps::testing::all_facts_text(l, kNow); }

struct Fixture {
  TempDir dir;
  std::string path = dir.file("ledger.db");
  RawLedger raw{path, true};
};

}  // namespace

BOOST_AUTO_TEST_SUITE(ledger_open)

BOOST_AUTO_TEST_CASE(missing_file_is_not_found_and_no_file_is_created) {
  TempDir dir;
  auto l = Ledger::open({dir.file("nope.db")});
  BOOST_TEST(l.status().code() == Code::not_found);
  BOOST_TEST(l.status().message() == "ledger not found: " + dir.file("nope.db"));
  BOOST_TEST(!exists(dir.file("nope.db")));
}

BOOST_AUTO_TEST_CASE(non_sqlite_file_is_not_a_ledger) {
  TempDir dir;
  std::ofstream(dir.file("x.db")) << "this is not a database, just some text that is long enough";
  auto l = Ledger::open({dir.file("x.db")});
  BOOST_TEST(l.status().code() == Code::not_a_ledger);
  BOOST_TEST(l.status().message().find("is not a SQLite database") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(empty_file_and_sqlite_without_upstream_tables_are_not_a_ledger) {
  TempDir dir;
  std::ofstream(dir.file("empty.db")).close();
  auto l = Ledger::open({dir.file("empty.db")});
  BOOST_TEST(l.status().code() == Code::not_a_ledger);
  BOOST_TEST(l.status().message().find("has no table agent_metrics") != std::string::npos);
  {
    RawLedger other(dir.file("other.db"), true);
    other.exec("DROP TABLE agent_metrics");
  }
  auto o = Ledger::open({dir.file("other.db")});
  BOOST_TEST(o.status().code() == Code::not_a_ledger);
  BOOST_TEST(o.status().message() == "not a governance ledger: " + dir.file("other.db") +
                                         " has no table agent_metrics");
}

BOOST_AUTO_TEST_CASE(ledger_missing_a_column_is_not_a_ledger) {
  TempDir dir;
  {
    RawLedger raw(dir.file("l.db"), true);
    raw.exec("DROP TABLE agent_actions; CREATE TABLE agent_actions (id INTEGER PRIMARY KEY, "
             "timestamp TEXT, agent_id TEXT, action TEXT, success INTEGER)");
  }
  auto l = Ledger::open({dir.file("l.db")});
  BOOST_TEST(l.status().code() == Code::not_a_ledger);
  BOOST_TEST(l.status().message().find("table agent_actions") != std::string::npos);
  BOOST_TEST(l.status().message().find("has no column decision") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(directory_is_not_a_ledger) {
  TempDir dir;
  auto l = Ledger::open({dir.path()});
  BOOST_TEST(l.status().code() == Code::not_a_ledger);
}

BOOST_AUTO_TEST_CASE(read_only_ledger_refuses_writes) {
  Fixture fx;
  fx.raw.metrics("a", 0, 9, 9);
  auto l = open_ok(fx.path, true);
  auto m = l->migrate(kNow);
  BOOST_TEST(m.status().code() == Code::failed_precondition);
  BOOST_TEST(fx.raw.integer("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND "
                            "name LIKE 'sidecar_%'") == 0);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(ledger_facts)

BOOST_AUTO_TEST_CASE(unknown_agent_has_no_facts) {
  Fixture fx;
  auto l = open_ok(fx.path);
  BOOST_TEST(!facts_of(*l, "ghost"));
}

BOOST_AUTO_TEST_CASE(window_starts_exactly_30_days_before_now_at_second_precision) {
  Fixture fx;
  fx.raw.metrics("a", 0, 5, 3);
  // datetime() drops the fraction: now - 30 days is 10:15:30, so 10:15:30.000 is inside and
  // 10:15:29.999999 is not (the reference engine's semantics).
  fx.raw.action("a", "2026-10-26T10:15:30+00:00", "inside_edge", "EXECUTE", 1);
  fx.raw.action("a", "2026-10-26T10:15:29.999999+00:00", "outside_edge", "EXECUTE", 1);
  fx.raw.action("a", "2026-10-26T12:15:29+02:00", "outside_by_offset", "EXECUTE", 1);
  fx.raw.action("a", at(600), "future", "PLAN_ONLY", 1);
  fx.raw.action("a", "2026-11-20 08:00:00", "sqlite_shape", "PLAN_ONLY", 0);
  for (bool migrated : {false, true}) {
    auto l = open_ok(fx.path);
    if (migrated) BOOST_REQUIRE(l->migrate(kNow).ok());
    auto f = facts_of(*l, "a");
    BOOST_TEST(f->total_actions == 3);
    BOOST_TEST(f->successful_actions == 2);
    BOOST_TEST(f->successful_executions == 1);
    BOOST_TEST(f->action_types == (std::vector<std::string>{"inside_edge", "future", "sqlite_shape"}),
               boost::test_tools::per_element());
  }
}

BOOST_AUTO_TEST_CASE(empty_window_sums_are_zero_not_null) {
  Fixture fx;
  fx.raw.metrics("a", 1, 10, 5);
  fx.raw.action("a", at(-40 * kDay), "ansible_check", "EXECUTE", 1);
  auto l = open_ok(fx.path);
  auto f = facts_of(*l, "a");
  BOOST_TEST(f->total_actions == 0);
  BOOST_TEST(f->successful_actions == 0);
  BOOST_TEST(f->successful_executions == 0);
  BOOST_TEST(f->action_types.empty());
}

BOOST_AUTO_TEST_CASE(counts_success_and_executions_like_the_reference) {
  Fixture fx;
  fx.raw.metrics("a", 1, 10, 5);
  fx.raw.action("a", at(-100), "x", "EXECUTE", 1);
  fx.raw.action("a", at(-90), "x", "EXECUTE", 0);
  fx.raw.action("a", at(-80), "x", "EXECUTE", std::nullopt);
  fx.raw.action("a", at(-70), "x", "PLAN_ONLY", 1);
  fx.raw.action("a", at(-60), "x", "execute", 1);
  fx.raw.exec("INSERT INTO agent_actions (timestamp, agent_id, action, decision, success) VALUES "
              "(" + q(at(-50)) + ", 'a', 'x', 'EXECUTE', '1')");  // affinity makes it 1
  fx.raw.exec("INSERT INTO agent_actions (timestamp, agent_id, action, decision, success) VALUES "
              "(" + q(at(-40)) + ", 'a', 'x', 'EXECUTE', 'yes')");
  auto l = open_ok(fx.path);
  auto f = facts_of(*l, "a");
  BOOST_TEST(f->total_actions == 7);
  BOOST_TEST(f->successful_actions == 4);
  BOOST_TEST(f->successful_executions == 2);
}

BOOST_AUTO_TEST_CASE(action_types_are_distinct_in_order_of_first_rowid_whatever_the_index) {
  Fixture fx;
  fx.raw.metrics("a", 0, 5, 3);
  fx.raw.action("a", at(-500), "b", "PLAN_ONLY", 1);
  fx.raw.action("a", at(-400), "a", "PLAN_ONLY", 1);
  fx.raw.action("a", at(-300), "b", "PLAN_ONLY", 1);
  fx.raw.action("a", at(-9000), "c", "PLAN_ONLY", 1);  // older, but inserted later
  for (int i = 0; i < 10; ++i) {
    std::string type = "t";  // not "t" + std::to_string(i): a GCC 12 -Wrestrict false positive
    type += std::to_string(i);
    fx.raw.action("a", at(-200 + i), type, "X", 1);
  }
  auto l = open_ok(fx.path);
  const auto before = facts_of(*l, "a")->action_types;
  BOOST_TEST(before.size() == 13u);
  BOOST_TEST(before[0] == "b");
  BOOST_TEST(before[1] == "a");
  BOOST_TEST(before[2] == "c");
  BOOST_TEST(before[12] == "t9");
  BOOST_REQUIRE(l->migrate(kNow).ok());
  BOOST_TEST(facts_of(*l, "a")->action_types == before, boost::test_tools::per_element());
  auto all = l->all_agent_facts(kNow);
  BOOST_TEST(all->agents[0]->action_types == before, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(violations_count_only_inside_the_window) {
  Fixture fx;
  fx.raw.metrics("a", 0, 5, 3);
  fx.raw.violation("a", at(-kDay));
  fx.raw.violation("a", at(-29 * kDay));
  fx.raw.violation("a", at(-31 * kDay));
  fx.raw.violation("b", at(-kDay));
  auto l = open_ok(fx.path);
  BOOST_TEST(facts_of(*l, "a")->violations_30d == 2);
}

BOOST_AUTO_TEST_CASE(metrics_row_is_kept_whole_for_evidence) {
  Fixture fx;
  fx.raw.exec("INSERT INTO agent_metrics VALUES ('a', 2, 30, 12, 40, 'x', NULL, 'u')");
  auto l = open_ok(fx.path);
  auto f = facts_of(*l, "a");
  BOOST_TEST(f->metrics.columns->size() == 8u);
  BOOST_TEST((*f->metrics.columns)[7] == "updated_at");
  BOOST_TEST(std::get<std::string>(f->metrics.values[5]) == "x");
  BOOST_TEST(is_null(f->metrics.values[6]));
  BOOST_TEST(f->current_tier == 2);
  BOOST_TEST(f->compliant_runs == 30);
  BOOST_TEST(f->consecutive_compliant == 12);
}

struct InvalidCase {
  const char* setup;
  const char* message;
};

BOOST_AUTO_TEST_CASE(each_kind_of_invalid_data_names_the_agent_and_the_value) {
  const InvalidCase cases[] = {
      {"INSERT INTO agent_metrics (agent_id, current_tier) VALUES ('bad', 7)",
       "agent 'bad': current_tier = 7 (must be an integer 0..4)"},
      {"INSERT INTO agent_metrics (agent_id, current_tier) VALUES ('bad', -1)",
       "agent 'bad': current_tier = -1 (must be an integer 0..4)"},
      {"INSERT INTO agent_metrics (agent_id, current_tier) VALUES ('bad', 'two')",
       "agent 'bad': current_tier = 'two' (must be an integer 0..4)"},
      {"INSERT INTO agent_metrics (agent_id, compliant_runs) VALUES ('bad', -3)",
       "agent 'bad': compliant_runs = -3 (must be a non-negative integer)"},
      {"INSERT INTO agent_metrics (agent_id, consecutive_compliant) VALUES ('bad', 2.5)",
       "agent 'bad': consecutive_compliant = 2.5 (must be a non-negative integer)"},
      {"INSERT INTO agent_metrics (agent_id, total_runs) VALUES ('bad', -1)",
       "agent 'bad': total_runs = -1 (must be a non-negative integer)"},
      {"INSERT INTO agent_metrics (agent_id, created_at) VALUES ('bad', x'00ff')",
       "agent 'bad': created_at is binary data (BLOB)"},
      {"INSERT INTO agent_metrics (agent_id) VALUES ('bad'); INSERT INTO agent_actions "
       "(timestamp, agent_id, action, decision) VALUES ('not-a-date', 'bad', 'x', 'EXECUTE')",
       "agent 'bad': agent_actions row 1 has an unparseable timestamp 'not-a-date'"},
      {"INSERT INTO agent_metrics (agent_id) VALUES ('bad'); INSERT INTO violations "
       "(timestamp, agent_id, violation_type) VALUES ('2026-13-45T00:00:00', 'bad', 'v')",
       "agent 'bad': violations row 1 has an unparseable timestamp '2026-13-45T00:00:00'"},
      {"INSERT INTO agent_metrics (agent_id, current_tier) VALUES ('bad\nline', 9)",
       "agent 'bad\\nline': current_tier = 9 (must be an integer 0..4)"},
  };
  for (const InvalidCase& c : cases) {
    Fixture fx;
    fx.raw.exec(c.setup);
    fx.raw.metrics("good", 0, 5, 3);
    fx.raw.action("good", at(-60), "generate_plan", "PLAN_ONLY", 1);
    for (bool migrated : {false, true}) {
      auto l = open_ok(fx.path);
      if (migrated) BOOST_REQUIRE(l->migrate(kNow).ok());
      const std::string agent = std::string(c.setup).find("bad\n") != std::string::npos
                                    ? "bad\nline" : "bad";
      auto f = l->agent_facts(agent, kNow);
      BOOST_TEST(f.status().code() == Code::invalid_data);
      BOOST_TEST(f.status().message() == c.message);
      auto all = l->all_agent_facts(kNow);
      BOOST_REQUIRE(all.ok());
      BOOST_REQUIRE(all->problems.size() == 1u);
      BOOST_TEST(all->problems[0].agent_id == agent);
      BOOST_TEST(all->problems[0].message == c.message);
      BOOST_REQUIRE(all->agents.size() == 1u);
      BOOST_TEST(all->agents[0]->agent_id == "good");
      BOOST_TEST(all->agents[0]->total_actions == 1);
    }
  }
}

BOOST_AUTO_TEST_CASE(row_without_agent_id_is_reported_not_evaluated) {
  Fixture fx;
  fx.raw.exec("INSERT INTO agent_metrics (agent_id) VALUES (NULL)");
  fx.raw.metrics("", 0, 5, 3);  // the empty string is a valid (if odd) id
  auto l = open_ok(fx.path);
  auto all = l->all_agent_facts(kNow);
  BOOST_REQUIRE(all->problems.size() == 1u);
  BOOST_TEST(all->problems[0].message == "agent_metrics row 1: agent_id is NULL");
  BOOST_REQUIRE(all->agents.size() == 1u);
  BOOST_TEST(all->agents[0]->agent_id == "");
}

BOOST_AUTO_TEST_CASE(several_bad_rows_of_one_agent_are_counted) {
  Fixture fx;
  fx.raw.metrics("a", 0, 5, 3);
  fx.raw.action("a", "nope", "x", "EXECUTE", 1);
  fx.raw.action("a", "nope2", "x", "EXECUTE", 1);
  fx.raw.violation("a", "never");
  auto l = open_ok(fx.path);
  auto all = l->all_agent_facts(kNow);
  BOOST_REQUIRE(all->problems.size() == 1u);
  BOOST_TEST(all->problems[0].message.find("(and 2 more invalid rows)") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(all_agents_pass_equals_per_agent_reads_migrated_or_not) {
  TempDir dir;
  ps::testing::GenOptions o;
  o.out = dir.file("g.db");
  o.schema_path = ps::testing::upstream_schema_path();
  o.agents = 400;
  o.actions = 20000;
  o.seed = 11;
  o.now = kNow;
  o.invalid = true;
  ps::testing::generate_ledger(o);
  auto l = open_ok(o.out);
  const std::string unmigrated = all_facts_json(*l);
  auto all = l->all_agent_facts(kNow);
  BOOST_TEST(all->problems.size() == 7u);
  BOOST_TEST(all->agents.size() == 400u);
  for (std::size_t i = 1; i < all->agents.size(); ++i) {
    const bool ascending = all->agents[i - 1]->agent_id.compare(all->agents[i]->agent_id) < 0;
    BOOST_TEST(ascending);
  }
  for (const auto& f : all->agents) {
    auto one = facts_of(*l, f->agent_id);
    Evidence a{Evidence::Kind::full, 0, f, std::make_shared<TierRequirements>()};
    Evidence b{Evidence::Kind::full, 0, one, std::make_shared<TierRequirements>()};
    BOOST_TEST(evidence_json_compact(a) == evidence_json_compact(b));
  }
  BOOST_REQUIRE(l->migrate(kNow).ok());
  BOOST_TEST(all_facts_json(*l) == unmigrated);
}

BOOST_AUTO_TEST_CASE(fact_queries_use_the_migration_indexes) {
  Fixture fx;
  BOOST_REQUIRE(open_ok(fx.path)->migrate(kNow).ok());
  RawLedger fresh(fx.path);  // EXPLAIN does not notice a schema change on an open connection
  auto plan = [&](std::string_view query) {
    std::string out;
    for (const auto& row : fresh.rows("EXPLAIN QUERY PLAN " + std::string(query))) out += row + "\n";
    return out;
  };
  auto uses = [&](std::string_view query, const std::string& expected) {
    const std::string p = plan(query);
    BOOST_TEST(p.find(expected) != std::string::npos, query << "\n" << p);
    BOOST_TEST(p.find("TEMP B-TREE") == std::string::npos, query << "\n" << p);
  };
  uses(sql::kWindowActionsByAgent, "SCAN m USING COVERING INDEX sqlite_autoindex_agent_metrics_1");
  uses(sql::kWindowActionsByAgent,
       "SEARCH a USING INDEX sidecar_actions_agent_window (agent_id=? AND <expr>>?)");
  uses(sql::kWindowActionsOne, "USING INDEX sidecar_actions_agent_window (agent_id=? AND <expr>>?)");
  uses(sql::kBadActionTimestampsAll, "USING INDEX sidecar_actions_bad_timestamp");
  uses(sql::kBadActionTimestampsOne, "sidecar_actions_agent_window (agent_id=? AND <expr>=?)");
  uses(sql::kWindowViolationsAll, "USING INDEX sidecar_violations_agent_window");
  uses(sql::kWindowViolationsOne, "sidecar_violations_agent_window (agent_id=? AND <expr>>?)");
  uses(sql::kBadViolationTimestampsAll, "USING INDEX sidecar_violations_bad_timestamp");
  uses(sql::kMetricsOrdered, "USING INDEX sqlite_autoindex_agent_metrics_1");
  uses(sql::kMetricsOne, "sqlite_autoindex_agent_metrics_1 (agent_id=?)");
}

BOOST_AUTO_TEST_CASE(current_tier_reads_valid_tiers_only) {
  Fixture fx;
  fx.raw.metrics("a", 3, 0, 0);
  fx.raw.metrics("b", 5, 0, 0);
  auto l = open_ok(fx.path);
  BOOST_TEST(**l->current_tier("a") == 3);
  BOOST_TEST(!*l->current_tier("nobody"));
  BOOST_TEST(l->current_tier("b").status().code() == Code::invalid_data);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(ledger_history)

BOOST_AUTO_TEST_CASE(history_is_newest_first_with_ties_in_insertion_order) {
  Fixture fx;
  auto add = [&](const char* ts, const char* agent) {
    fx.raw.exec(std::string("INSERT INTO promotions (timestamp, agent_id, from_tier, to_tier, "
                            "approved_by) VALUES ('") + ts + "', '" + agent + "', 0, 1, 'me')");
  };
  add("2026-01-01", "x");
  add("2026-01-02", "y");
  add("2026-01-01", "z");
  add("2026-01-02", "w");
  auto l = open_ok(fx.path);
  auto h = l->promotion_history(std::nullopt, 20);
  BOOST_REQUIRE(h.ok());
  BOOST_TEST(h->columns.size() == 8u);
  std::string order;
  for (const auto& row : h->rows) order += std::get<std::string>(row[2]);
  BOOST_TEST(order == "ywxz");
  BOOST_TEST(l->promotion_history(std::nullopt, 2)->rows.size() == 2u);
  BOOST_TEST(l->promotion_history(std::nullopt, -1)->rows.size() == 4u);
  BOOST_TEST(l->promotion_history(std::nullopt, 0)->rows.empty());
  auto only = l->promotion_history(std::string("z"), 20);
  BOOST_REQUIRE(only->rows.size() == 1u);
  BOOST_TEST(std::get<std::int64_t>(only->rows[0][0]) == 3);
}

BOOST_AUTO_TEST_CASE(blob_in_history_is_invalid_data) {
  Fixture fx;
  fx.raw.exec("INSERT INTO promotions (timestamp, agent_id, from_tier, to_tier, approved_by, "
              "evidence) VALUES ('t', 'a', 0, 1, 'me', x'00')");
  auto l = open_ok(fx.path);
  BOOST_TEST(l->promotion_history(std::nullopt, 20).status().code() == Code::invalid_data);
}

BOOST_AUTO_TEST_SUITE_END()
