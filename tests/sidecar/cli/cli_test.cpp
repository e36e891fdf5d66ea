// The CLI in-process: outputs, exit statuses, precedence of the ledger path, and every error
// path, with a simulated clock and string streams.
#include <sys/stat.h>

#include <boost/test/unit_test.hpp>
#include <fstream>
#include <map>
#include <sstream>

#include "tests/support/simulated_clock.h"
#include "engine/ledger/ledger_migrations.h"
#include "engine/rules/timestamp.h"
#include "sidecar/cli/commands.h"
#include "sidecar/cli/output.h"
#include "sidecar/cli/spool.h"
#include "tests/support/ledger_gen.h"
#include "tests/support/test_support.h"

using ps::Code;
using ps::Result;
using ps::Status;

using namespace ps::sidecar;
using ps::testing::RawLedger;
using ps::testing::TempDir;

namespace {

const auto kNow = *ps::engine::parse_iso8601("2026-11-25T10:15:30.123456+00:00");
std::string at(std::int64_t s) { return ps::testing::iso_at(kNow, std::chrono::seconds(s)); }

struct Run {
  int code;
  std::string out, err;
};

struct Cli {
  std::map<std::string, std::string> env;
  bool tty = false;
  bool out_is_file = false;

  Run operator()(std::vector<std::string> args) const {
    std::ostringstream out, err;
    ps::SimulatedClock clock(kNow);
    const CliEnvironment e{out, err, clock,
                           [this](std::string_view name) -> std::optional<std::string> {
                             auto it = env.find(std::string(name));
                             if (it == env.end()) return std::nullopt;
                             return it->second;
                           },
                           tty, out_is_file};
    std::vector<std::string_view> views(args.begin(), args.end());
    const int code = run_cli(views, e);
    return {code, out.str(), err.str()};
  }
};

std::size_t lines(const std::string& s) { return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n')); }

struct Fixture {
  TempDir dir;
  std::string db = dir.file("ledger.db");
  RawLedger raw{db, true};
  Cli cli;
  Fixture() {
    raw.metrics("ready", 0, 6, 4, 9);
    raw.action("ready", at(-3600), "generate_plan", "PLAN_ONLY", 1);
    raw.metrics("idle", 1, 12, 6, 20);  // no action in the window: the reference's NULL crash
    raw.metrics("top", 4, 80, 40, 90);
  }
  Run run(std::vector<std::string> args) const {
    args.insert(args.begin(), {"--db", db});
    return cli(std::move(args));
  }
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(dir.file(name)) << text;
    return dir.file(name);
  }
};

const char* kEligibleText =
    "\n============================================================\n"
    "AGENTS ELIGIBLE FOR PROMOTION\n"
    "============================================================\n"
    "\n[READY] ready\n"
    "  Tier 0 \xE2\x86\x92 Tier 1\n"
    "  Agent meets all promotion criteria\n"
    "============================================================\n";

}  // namespace

BOOST_AUTO_TEST_SUITE(cli)

BOOST_AUTO_TEST_CASE(eligible_lists_ready_agents_in_the_reference_text) {
  Fixture fx;
  const Run r = fx.run({"eligible"});
  BOOST_TEST(r.code == kExitOk);
  BOOST_TEST(r.out == kEligibleText);
  BOOST_TEST(r.err.empty());
}

BOOST_AUTO_TEST_CASE(evaluate_agent_without_recent_actions_counts_null_sums_as_zero) {
  Fixture fx;
  const Run r = fx.run({"evaluate", "idle"});
  BOOST_TEST(r.code == kExitOk);
  BOOST_TEST(r.out.find("  [X] Need 2 more successful modifications\n") != std::string::npos, r.out);
  const Run j = fx.run({"evaluate", "idle", "--json"});
  BOOST_TEST(j.out.find("\"successful_actions\": 0,") != std::string::npos);
  BOOST_TEST(j.out.find("\"timestamp\": \"2026-11-25T10:15:30.123456+00:00\"\n}\n") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(evaluate_unknown_agent_reports_not_found_in_metrics) {
  Fixture fx;
  const Run r = fx.run({"evaluate", "ghost"});
  BOOST_TEST(r.code == kExitOk);
  BOOST_TEST(r.out.find("Status: NOT_ELIGIBLE\n\nRequirements Met:\n\nRequirements Missing:\n"
                        "  [X] Agent not found in metrics\n\nRecommendation: Agent has no "
                        "recorded activity\n") != std::string::npos, r.out);
}

BOOST_AUTO_TEST_CASE(now_option_moves_the_window) {
  Fixture fx;
  BOOST_TEST(fx.run({"--now", "2026-12-30T00:00:00Z", "eligible"}).out.find("No agents currently eligible") !=
             std::string::npos);
  BOOST_TEST(fx.run({"--now", "2026-11-25T12:15:30.123456+02:00", "eligible"}).out == kEligibleText);
  const Run bad = fx.run({"--now", "yesterday", "eligible"});
  BOOST_TEST(bad.code == kExitUsage);
  BOOST_TEST(bad.err == "policy-sidecar: --now: 'yesterday' is not an ISO-8601 time (e.g. 2026-11-25T10:15:30Z)\n");
}

BOOST_AUTO_TEST_CASE(ledger_path_comes_from_db_then_environment_then_config_then_default) {
  Fixture fx;
  Cli cli;
  cli.env["POLICY_SIDECAR_DB"] = fx.db;
  BOOST_TEST(cli({"eligible"}).out == kEligibleText);
  BOOST_TEST(cli({"--db", fx.dir.file("other.db"), "eligible"}).err ==
             "policy-sidecar: ledger not found: " + fx.dir.file("other.db") + "\n");
  const std::string config = fx.write("c.json", "{\"ledger\": {\"path\": \"" + fx.db + "\"}}");
  Cli plain;
  BOOST_TEST(plain({"--config", config, "eligible"}).out == kEligibleText);
  cli.env["POLICY_SIDECAR_DB"] = fx.dir.file("env.db");
  BOOST_TEST(cli({"--config", config, "eligible"}).err.find("env.db") != std::string::npos);
  struct stat st {};
  if (::stat(kDefaultLedgerPath, &st) != 0) {
    const Run r = plain({"eligible"});
    BOOST_TEST(r.code == kExitFailed);
    BOOST_TEST(r.err == std::string("policy-sidecar: ledger not found: ") + kDefaultLedgerPath + "\n");
    BOOST_TEST(::stat(kDefaultLedgerPath, &st) != 0);  // never created
  }
}

BOOST_AUTO_TEST_CASE(invalid_agent_fails_evaluate_with_one_line) {
  Fixture fx;
  fx.raw.exec("INSERT INTO agent_metrics (agent_id, current_tier) VALUES ('bad', 7)");
  const Run r = fx.run({"evaluate", "bad"});
  BOOST_TEST(r.code == kExitFailed);
  BOOST_TEST(r.out.empty());
  BOOST_TEST(r.err == "policy-sidecar: invalid ledger data: agent 'bad': current_tier = 7 (must be an integer 0..4)\n");
}

BOOST_AUTO_TEST_CASE(eligible_skips_bad_agents_names_them_and_exits_3) {
  Fixture fx;
  fx.raw.exec("INSERT INTO agent_metrics (agent_id, current_tier) VALUES ('bad-tier', 7)");
  fx.raw.metrics("bad-time", 0, 9, 9);
  fx.raw.action("bad-time", "not-a-date", "generate_plan", "PLAN_ONLY", 1);
  for (bool migrated : {false, true}) {
    if (migrated) BOOST_REQUIRE(fx.run({"migrate"}).code == kExitOk);
    const Run r = fx.run({"eligible"});
    BOOST_TEST(r.code == kExitPartial);
    BOOST_TEST(r.out == kEligibleText);
    BOOST_TEST(r.err ==
               "policy-sidecar: skipped: invalid ledger data: agent 'bad-tier': current_tier = 7 (must be an integer 0..4)\n"
               "policy-sidecar: skipped: invalid ledger data: agent 'bad-time': agent_actions row 2 has an unparseable timestamp 'not-a-date'\n"
               "policy-sidecar: 2 of 5 agents skipped because of invalid ledger data; the others are listed\n");
    const Run j = fx.run({"eligible", "--json"});
    BOOST_TEST(j.code == kExitPartial);
    BOOST_TEST(j.out.find("\"agent_id\": \"ready\"") != std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(many_bad_agents_are_named_up_to_a_limit) {
  Fixture fx;
  for (int i = 0; i < 25; ++i) {
    fx.raw.exec("INSERT INTO agent_metrics (agent_id, compliant_runs) VALUES ('bad" + std::to_string(100 + i) + "', -1)");
  }
  const Run r = fx.run({"eligible", "--json"});
  BOOST_TEST(r.code == kExitPartial);
  BOOST_TEST(lines(r.err) == 22u);
  BOOST_TEST(r.err.find("policy-sidecar: skipped 5 more agents with invalid ledger data\n") != std::string::npos);
  BOOST_TEST(r.err.find("25 of 28 agents skipped") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(promote_reports_what_happened_and_records_it) {
  Fixture fx;
  const Run r = fx.run({"promote", "ready", "--approved-by", "alice"});
  BOOST_TEST(r.code == kExitOk, r.err);
  BOOST_TEST(r.out == "[OK] Promoted ready from Tier 0 to Tier 1\n"
                      "  Recorded as promotion 1 at 2026-11-25T10:15:30.123456+00:00 (approved by alice)\n");
  std::string notices;
  for (const auto& m : ps::engine::ledger_migrations()) {
    notices += "policy-sidecar: applying ledger migration " + std::to_string(m.version) + " (" +
               std::string(m.name) + ")...\n";
  }
  BOOST_TEST(r.err == notices);
  BOOST_TEST(fx.raw.text("SELECT current_tier FROM agent_metrics WHERE agent_id = 'ready'") == "1");
  const Run again = fx.run({"promote", "ready", "--approved-by", "alice"});
  BOOST_TEST(again.code == kExitFailed);
  BOOST_TEST(again.out == "[FAILED] Agent not eligible: Agent needs to complete 5 requirements\n");
  BOOST_TEST(again.err.empty());
}

BOOST_AUTO_TEST_CASE(promote_from_a_tier_the_agent_has_left_fails) {
  Fixture fx;
  const Run r = fx.run({"promote", "ready", "--approved-by", "alice", "--from-tier", "1"});
  BOOST_TEST(r.code == kExitFailed);
  BOOST_TEST(r.out == "[FAILED] Agent ready is no longer at Tier 1 (now at Tier 0); nothing changed\n");
}

BOOST_AUTO_TEST_CASE(promote_on_a_locked_ledger_fails_after_the_busy_timeout) {
  Fixture fx;
  BOOST_REQUIRE(fx.run({"migrate"}).code == kExitOk);
  const std::string config = fx.write("c.json", R"({"ledger": {"busy_timeout_ms": 50}})");
  fx.raw.exec("BEGIN IMMEDIATE");
  const Run r = fx.run({"--config", config, "promote", "ready", "--approved-by", "alice"});
  fx.raw.exec("ROLLBACK");
  BOOST_TEST(r.code == kExitFailed);
  BOOST_TEST(r.out.empty());
  BOOST_TEST(r.err == "policy-sidecar: ledger is locked by another process; gave up after 50 ms (" + fx.db + ")\n");
  BOOST_TEST(fx.raw.integer("SELECT count(*) FROM promotions") == 0);
}

BOOST_AUTO_TEST_CASE(migrate_reports_applied_then_up_to_date) {
  Fixture fx;
  const Run first = fx.run({"migrate"});
  BOOST_TEST(first.code == kExitOk);
  std::string applied;
  for (const auto& m : ps::engine::ledger_migrations()) {
    applied += "Applied migration " + std::to_string(m.version) + " (" + std::string(m.name) + ")\n";
  }
  const std::string latest = std::to_string(ps::engine::ledger_migrations().back().version);
  BOOST_TEST(first.out == applied + "Ledger schema is now at version " + latest + "\n");
  const Run second = fx.run({"migrate"});
  BOOST_TEST(second.out == "Ledger schema is up to date (version " + latest + ")\n");
  BOOST_TEST(second.err.empty());
  fx.raw.exec("INSERT INTO sidecar_schema_migrations VALUES (99, 'future', 'x')");
  const Run newer = fx.run({"migrate"});
  BOOST_TEST(newer.code == kExitFailed);
  BOOST_TEST(newer.err.find("policy-sidecar: ledger schema version 99 is newer than this policy-sidecar supports (" + latest + ")") == 0u);
  BOOST_TEST(fx.run({"promote", "ready", "--approved-by", "a"}).code == kExitFailed);
  BOOST_TEST(fx.run({"eligible"}).code == kExitOk);
}

BOOST_AUTO_TEST_CASE(history_lists_newest_first_and_empty_agent_id_means_everyone) {
  Fixture fx;
  fx.raw.exec("INSERT INTO promotions (timestamp, agent_id, from_tier, to_tier, approved_by, rationale) "
              "VALUES ('2026-01-01T00:00:00+00:00', 'top', 3, 4, 'bob', NULL), "
              "('2026-02-01T00:00:00+00:00', 'ready', 0, 1, 'eve', '')");
  const Run r = fx.run({"history"});
  BOOST_TEST(r.out ==
             "\n============================================================\n"
             "PROMOTION HISTORY\n"
             "============================================================\n"
             "\n2026-02-01T00:00:00+00:00\n  ready: Tier 0 \xE2\x86\x92 Tier 1\n  Approved by: eve\n"
             "\n2026-01-01T00:00:00+00:00\n  top: Tier 3 \xE2\x86\x92 Tier 4\n  Approved by: bob\n"
             "============================================================\n");
  BOOST_TEST(fx.run({"history", "--agent-id", ""}).out == r.out);
  BOOST_TEST(fx.run({"history", "--agent-id", "nobody"}).out.find("No promotion history found") != std::string::npos);
  const Run j = fx.run({"history", "--limit", "1", "--json"});
  BOOST_TEST(j.out == "[\n  {\n    \"id\": 2,\n    \"timestamp\": \"2026-02-01T00:00:00+00:00\",\n"
                      "    \"agent_id\": \"ready\",\n    \"from_tier\": 0,\n    \"to_tier\": 1,\n"
                      "    \"approved_by\": \"eve\",\n    \"rationale\": \"\",\n    \"evidence\": null\n  }\n]\n");
}

BOOST_AUTO_TEST_CASE(requirements_needs_no_ledger_and_shows_the_effective_rules) {
  Cli cli;
  const Run r = cli({"--db", "/nonexistent/l.db", "requirements", "--tier", "1"});
  BOOST_TEST(r.code == kExitOk);
  BOOST_TEST(r.out ==
             "\n============================================================\n"
             "PROMOTION REQUIREMENTS\n"
             "============================================================\n"
             "\nTier 1 \xE2\x86\x92 Tier 2:\n"
             "  10 compliant runs, 5 consecutive, 2+ mods, no violations\n"
             "  - Min compliant runs: 10\n  - Min consecutive: 5\n  - Max violations (30d): 0\n"
             "============================================================\n");
  TempDir dir;
  std::ofstream(dir.file("c.json")) << R"({"rules": {"1": {"min_compliant_runs": 20, "requires_manual_review": true}}})";
  const Run c = cli({"--config", dir.file("c.json"), "requirements", "--tier", "1"});
  BOOST_TEST(c.out.find("  - Min compliant runs: 20\n  - Min consecutive: 5\n") != std::string::npos);
  BOOST_TEST(c.out.find("  - Requires manual review: Yes\n") != std::string::npos);
  BOOST_TEST(cli({"requirements", "--tier", "9"}).out.find("\nTier 9 \xE2\x86\x92 Tier 10:\n  No description\n"
                                                          "  - Min compliant runs: N/A\n") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(bad_config_is_a_usage_error_with_one_line) {
  Fixture fx;
  const std::string config = fx.write("c.json", R"({"rules": {"1": {"min_compliant_runs": -1}}})");
  const Run r = fx.run({"--config", config, "eligible"});
  BOOST_TEST(r.code == kExitUsage);
  BOOST_TEST(r.err == "policy-sidecar: config: rules.\"1\".min_compliant_runs: must be a non-negative integer\n");
  BOOST_TEST(r.out.empty());
}

BOOST_AUTO_TEST_CASE(unusable_ledger_files_give_one_line_each) {
  Fixture fx;
  const std::string text = fx.write("notes.txt", "definitely not SQLite, but long enough to have a header");
  const Run a = fx.cli({"--db", text, "eligible"});
  BOOST_TEST(a.code == kExitFailed);
  BOOST_TEST(a.err == "policy-sidecar: not a governance ledger: " + text + " is not a SQLite database\n");
  { RawLedger other(fx.dir.file("other.db"), true); other.exec("DROP TABLE promotions"); }
  const Run b = fx.cli({"--db", fx.dir.file("other.db"), "history"});
  BOOST_TEST(b.err == "policy-sidecar: not a governance ledger: " + fx.dir.file("other.db") + " has no table promotions\n");
  const Run c = fx.cli({"--db", fx.dir.path(), "evaluate", "x"});
  BOOST_TEST(c.err == "policy-sidecar: not a governance ledger: " + fx.dir.path() + " is a directory\n");
}

BOOST_AUTO_TEST_CASE(usage_errors_exit_2_with_one_line_pointing_to_help) {
  Cli cli;
  for (std::vector<std::string> args : {std::vector<std::string>{"frob"}, {"eligible", "--jsn"}, {},
                                        {"promote", "a"}, {"history", "--limit", "x"}}) {
    const Run r = cli(args);
    BOOST_TEST(r.code == kExitUsage);
    BOOST_TEST(lines(r.err) == 1u);
    BOOST_TEST(r.err.find("policy-sidecar: ") == 0u);
    BOOST_TEST(r.err.find("(see policy-sidecar --help)\n") != std::string::npos);
    BOOST_TEST(r.out.empty());
  }
  const Run help = cli({"--help"});
  BOOST_TEST(help.code == kExitOk);
  BOOST_TEST(help.out.find("exit status: 0 ok; 1 failed") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(the_sidecars_own_commands_exit_64_for_usage_and_78_for_configuration) {
  Cli cli;
  for (std::vector<std::string> args :
       {std::vector<std::string>{"demote", "a", "--reason", "x"}, {"sync", "--wait", "soon"},
        {"freeze", "--reason", "x"}, {"revoke-scan", "--from-id", "0"}, {"status", "--agnt", "a"},
        {"--now", "yesterday", "revoke-scan"}}) {
    const Run r = cli(args);
    BOOST_TEST(r.code == kExitUsageError, args.front());
    BOOST_TEST(lines(r.err) == 1u);
  }
  Fixture fx;
  const std::string config = fx.write("c.json", R"({"revocation": {"acknowledged": "maybe"}})");
  for (const char* cmd : {"status", "revoke-scan", "sync", "migrate"}) {
    const Run r = fx.run({"--config", config, cmd});
    BOOST_TEST(r.code == kExitConfig, cmd);
    BOOST_TEST(r.err.find("revocation.acknowledged") != std::string::npos);
  }
  // The reference's commands keep argparse's 2.
  BOOST_TEST(fx.run({"--config", config, "eligible"}).code == kExitUsage);
}

BOOST_AUTO_TEST_CASE(promote_refuses_the_reserved_auto_approver_as_a_usage_error) {
  Fixture fx;
  const Run r = fx.run({"promote", "ready", "--approved-by", "policy-sidecar:auto"});
  BOOST_TEST(r.code == kExitUsageError);
  BOOST_TEST(r.err.find("policy-sidecar:auto is reserved") != std::string::npos, r.err);
  BOOST_TEST(lines(r.err) == 1u);
  BOOST_TEST(r.out.empty());
}

BOOST_AUTO_TEST_CASE(progress_appears_on_a_terminal_only_and_is_cleared) {
  TempDir dir;
  ps::testing::GenOptions o;
  o.out = dir.file("big.db");
  o.schema_path = ps::testing::upstream_schema_path();
  o.agents = 12000;
  o.actions = 24000;
  o.now = kNow;
  ps::testing::generate_ledger(o);
  Cli quiet;
  const Run plain = quiet({"--db", o.out, "eligible", "--json"});
  BOOST_TEST(plain.err.empty());
  Cli tty;
  tty.tty = true;
  const Run shown = tty({"--db", o.out, "eligible", "--json"});
  BOOST_TEST(shown.out == plain.out);
  BOOST_TEST(shown.err.find("\religible: ") != std::string::npos);
  BOOST_TEST(shown.err.substr(shown.err.size() - 4) == "\r\x1b[K");
}

BOOST_AUTO_TEST_CASE(listing_is_the_same_spooled_or_written_directly) {
  TempDir dir;
  ps::testing::GenOptions o;
  o.out = dir.file("g.db");
  o.schema_path = ps::testing::upstream_schema_path();
  o.agents = 3000;
  o.actions = 30000;
  o.now = kNow;
  ps::testing::generate_ledger(o);
  Cli spooled;
  Cli direct;
  direct.out_is_file = true;
  const Run a = spooled({"--db", o.out, "eligible", "--json"});
  BOOST_TEST(a.out.size() > EligibleWriter::kChunk);
  BOOST_TEST(a.out == direct({"--db", o.out, "eligible", "--json"}).out);
}

BOOST_AUTO_TEST_CASE(spool_past_its_memory_limit_uses_a_temporary_file_transparently) {
  Spool spool(10);
  std::string expected;
  for (int i = 0; i < 100; ++i) {
    const std::string chunk = "chunk " + std::to_string(i) + "\n";
    spool.append(chunk);
    expected += chunk;
  }
  std::ostringstream out;
  BOOST_TEST(spool.copy_to(out));
  BOOST_TEST(out.str() == expected);
}

BOOST_AUTO_TEST_SUITE_END()
