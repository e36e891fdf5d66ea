// Argument parsing with the reference's argparse semantics.
#include <boost/test/unit_test.hpp>

#include "sidecar/cli/cli.h"
#include "sidecar/server/version.h"

using ps::Code;
using ps::Result;
using ps::Status;

using namespace ps::sidecar;

namespace {

ps::Result<Invocation> parse(std::vector<std::string_view> args) {
  return parse_command_line(args);
}

std::string error_of(std::vector<std::string_view> args) {
  auto r = parse(std::move(args));
  BOOST_TEST(!r.ok());
  return r.status().message();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(cli_parse)

BOOST_AUTO_TEST_CASE(reference_commands_parse_with_their_flags) {
  auto e = parse({"evaluate", "a1", "--json"});
  BOOST_REQUIRE(e.ok());
  BOOST_TEST(std::get<EvaluateCommand>(e->command).agent_id == "a1");
  BOOST_TEST(std::get<EvaluateCommand>(e->command).json);

  auto p = parse({"promote", "a1", "--approved-by", "alice", "--rationale=ok then", "--from-tier", "2"});
  BOOST_REQUIRE(p.ok());
  const auto& pc = std::get<PromoteCommand>(p->command);
  BOOST_TEST(pc.approved_by == "alice");
  BOOST_TEST(*pc.rationale == "ok then");
  BOOST_TEST(*pc.from_tier == 2);

  auto h = parse({"history", "--limit", "-1", "--agent-id", "x"});
  BOOST_REQUIRE(h.ok());
  BOOST_TEST(std::get<HistoryCommand>(h->command).limit == -1);
  BOOST_TEST(*std::get<HistoryCommand>(h->command).agent_id == "x");
  BOOST_TEST(std::get<HistoryCommand>(parse({"history"})->command).limit == 20);

  auto r = parse({"requirements", "--tier", " 7 "});
  BOOST_REQUIRE(r.ok());
  BOOST_TEST(*std::get<RequirementsCommand>(r->command).tier == 7);
  BOOST_TEST(std::holds_alternative<MigrateCommand>(parse({"migrate"})->command));
  BOOST_TEST(std::get<EligibleCommand>(parse({"eligible"})->command).json == false);
}

BOOST_AUTO_TEST_CASE(global_options_go_before_or_after_the_command) {
  auto a = parse({"--db", "/x.db", "--now", "2026-01-01T00:00:00Z", "eligible", "--config=c.json"});
  BOOST_REQUIRE(a.ok());
  BOOST_TEST(*a->global.db == "/x.db");
  BOOST_TEST(*a->global.now == "2026-01-01T00:00:00Z");
  BOOST_TEST(*a->global.config == "c.json");
  auto last_wins = parse({"--db", "a", "eligible", "--db", "b"});
  BOOST_TEST(*last_wins->global.db == "b");
}

BOOST_AUTO_TEST_CASE(unique_prefixes_of_long_options_are_accepted_like_argparse) {
  auto p = parse({"promote", "a1", "--appr", "bob", "--rat", "r"});
  BOOST_REQUIRE_MESSAGE(p.ok(), p.status().message());
  BOOST_TEST(std::get<PromoteCommand>(p->command).approved_by == "bob");
  BOOST_TEST(std::get<EligibleCommand>(parse({"eligible", "--js"})->command).json);
  BOOST_TEST(error_of({"eligible", "--=x"}).find("ambiguous option '--'") == 0u);
}

BOOST_AUTO_TEST_CASE(double_dash_ends_options_so_odd_agent_ids_work) {
  auto e = parse({"evaluate", "--json", "--", "-weird-agent"});
  BOOST_REQUIRE(e.ok());
  BOOST_TEST(std::get<EvaluateCommand>(e->command).agent_id == "-weird-agent");
}

BOOST_AUTO_TEST_CASE(usage_errors_are_one_clear_sentence) {
  BOOST_TEST(error_of({}).find("missing command") == 0u);
  BOOST_TEST(error_of({"frobnicate"}).find("unknown command 'frobnicate'") == 0u);
  BOOST_TEST(error_of({"evaluate"}) == "evaluate: missing argument AGENT_ID");
  BOOST_TEST(error_of({"evaluate", "a", "b"}) == "unrecognized arguments: b");
  BOOST_TEST(error_of({"eligible", "--jsn"}) == "unrecognized option '--jsn'");
  BOOST_TEST(error_of({"eligible", "-j"}) == "unrecognized option '-j'");
  BOOST_TEST(error_of({"eligible", "--json=yes"}) == "argument --json: ignored explicit argument 'yes'");
  BOOST_TEST(error_of({"history", "--limit", "ten"}) == "argument --limit: invalid int value: 'ten'");
  BOOST_TEST(error_of({"history", "--limit"}) == "argument --limit: expected one argument");
  BOOST_TEST(error_of({"requirements", "--tier", "1.5"}) == "argument --tier: invalid int value: '1.5'");
  BOOST_TEST(error_of({"promote", "a"}) == "promote: the following arguments are required: --approved-by");
  BOOST_TEST(error_of({"promote", "a", "--approved-by", ""}) == "promote: --approved-by must not be empty");
  BOOST_TEST(error_of({"promote", "a", "--approved-by", "x", "--from-tier", "one"}) ==
             "argument --from-tier: invalid int value: 'one'");
  BOOST_TEST(error_of({"history", "--tier", "1"}) == "unrecognized option '--tier'");
}

BOOST_AUTO_TEST_CASE(help_is_available_at_top_level_and_per_command) {
  auto top = parse({"--help"});
  BOOST_REQUIRE(top.ok());
  BOOST_TEST(std::get<HelpCommand>(top->command).text.find("usage: policy-sidecar") == 0u);
  auto cmd = parse({"promote", "-h"});
  BOOST_TEST(std::get<HelpCommand>(cmd->command).text.find("promote AGENT_ID --approved-by WHO") !=
             std::string::npos);
}

BOOST_AUTO_TEST_CASE(version_is_the_projects_and_shown_in_the_help) {
  const std::string version = kVersion;
  BOOST_TEST(!version.empty());
  for (auto args : {std::vector<std::string_view>{"--version"}, {"eligible", "--version"}}) {
    auto v = parse(args);
    BOOST_REQUIRE(v.ok());
    BOOST_TEST(std::get<HelpCommand>(v->command).text == "policy-sidecar " + version + "\n");
  }
  auto help = parse({"--help"});
  BOOST_REQUIRE(help.ok());
  BOOST_TEST(std::get<HelpCommand>(help->command).text.find("\npolicy-sidecar " + version + ": ") !=
             std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
