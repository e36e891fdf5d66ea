// Bad input in the violations table, as a platform (or an attacker with write access to it)
// may leave it: unknown severities ('urgent', '', a number), odd spelling (' HIGH ',
// 'Critical': acted on), violations of agents that are not in agent_metrics, hostile agent ids
// (slashes and dot segments, %2F, a newline, 5 KB), rows inserted late with an explicit id
// below the mark (also after the platform deleted handled violations). Each gets its outcome
// row and is counted (revoke-scan's summary; serve's metrics, log and audit); nothing else in
// the ledger changes except where a rule applies, and Vault follows only those agents (an
// agent whose id names no role: its outbox row and step are parked with the reason).
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <iterator>

#include "tests/integration/revocation/revocation_support.h"
#include "tests/integration/revocation/serve_cli.h"

using namespace ps::testing;
using namespace ps::testing::serve;
using namespace ps::testing::revocation;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

struct Row {
  NewViolation v;
  std::string outcome;  // expected
};

std::string hex(const std::string& s) {
  static const char* k = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    out.push_back(k[c >> 4]);
    out.push_back(k[c & 15]);
  }
  return out;
}

std::vector<std::string> sorted_dump(RawLedger& raw) {
  auto d = dump_ledger(raw);
  std::sort(d.begin(), d.end());
  return d;
}

// The rows of `after` that are not in `before` and the other way round.
std::vector<std::string> changed_rows(const std::vector<std::string>& before,
                                      const std::vector<std::string>& after) {
  std::vector<std::string> out;
  std::set_symmetric_difference(before.begin(), before.end(), after.begin(), after.end(),
                                std::back_inserter(out));
  return out;
}

// Whether a changed row is one a handled violation may change: the revocation record itself,
// or a row of one of the agents a rule applied to.
bool allowed_change(const std::string& row, const std::vector<std::string>& demoted_agents) {
  for (const char* table : {"sidecar_violation_outcomes|", "sidecar_revocation_mark|",
                            "sidecar_schema_migrations|"}) {
    if (row.rfind(table, 0) == 0) return true;
  }
  for (const char* table :
       {"agent_metrics|", "sidecar_demotions|", "sidecar_outbox|", "sidecar_revocation_steps|"}) {
    if (row.rfind(table, 0) != 0) continue;
    for (const auto& agent : demoted_agents) {
      if (row.find("|" + agent + "|") != std::string::npos) return true;
    }
  }
  return false;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(revocation_input)

BOOST_AUTO_TEST_CASE(bad_violation_rows_are_recorded_and_counted_and_change_only_what_a_rule_applies_to) {
  ServeEnv env;
  VaultClient vault(env.vault_addr(), env.ca(), ServeEnv::kRootToken);
  const std::map<std::string, std::int64_t> initial = {
      {"a1", 3}, {"a2", 3}, {"a3", 2}, {"bystander", 4}, {"evil/../x", 2}};
  for (const auto& [agent, tier] : initial) {
    env.raw().metrics(agent, tier, 0, 0);
    if (agent != "evil/../x") vault.put_role("agent-" + agent, tier_policies(tier));
  }
  const std::string config = env.write_config({{"revocation", {{"poll_interval_s", 0.1}}}});
  const auto migrated = cli(env, config, {"migrate"});
  BOOST_REQUIRE_MESSAGE(migrated.exit_code == 0, migrated.out << migrated.err);

  const std::string five_kb(5 * 1024, 'x');
  // Ids from 100 on, so that ids below the mark are free for the late rows.
  std::vector<Row> rows = {
      {{"a1", "urgent", "scope_exceeded", false, 100}, "invalid_severity"},
      {{"a1", "", "scope_exceeded", false, {}}, "invalid_severity"},
      {{"a1", " HIGH ", "scope_exceeded", false, {}}, "demoted"},       // 3 -> 2
      {{"a2", "Critical", "scope_exceeded", false, {}}, "demoted"},     // 3 -> 0
      {{"a3", "medium", "scope_exceeded", false, {}}, "no_action"},
      {{"a3", "low", "scope_exceeded", true, {}}, "no_action"},
      {{"nobody", "critical", "scope_exceeded", false, {}}, "unknown_agent"},
      {{"a/b/../../sys/seal", "critical", "scope_exceeded", false, {}}, "unknown_agent"},
      {{"agent%2Fa1", "critical", "scope_exceeded", false, {}}, "unknown_agent"},
      {{"a1\nadmin", "critical", "scope_exceeded", false, {}}, "unknown_agent"},
      {{five_kb, "critical", "scope_exceeded", false, {}}, "unknown_agent"},
      {{"A1", "critical", "scope_exceeded", false, {}}, "unknown_agent"},  // ids are exact
      // An agent whose id cannot name a Vault role: the rule applies in the ledger.
      {{"evil/../x", "critical", "scope_exceeded", false, {}}, "demoted"},  // 2 -> 0
  };
  auto before = sorted_dump(env.raw());
  std::vector<std::int64_t> ids;
  for (const auto& r : rows) ids.push_back(insert_violation(env.raw(), r.v));
  // A severity the platform wrote as a number.
  env.raw().exec("INSERT INTO violations (timestamp, agent_id, violation_type, severity) VALUES "
                 "('2026-01-01T00:00:00', 'a3', 'scope_exceeded', 5)");
  rows.push_back({{"a3", "5", "scope_exceeded", false, {}}, "invalid_severity"});
  ids.push_back(env.raw().integer("SELECT MAX(id) FROM violations"));

  const auto scan = cli(env, config, {"revoke-scan"});
  BOOST_TEST_REQUIRE(scan.exit_code == 0, scan.out << scan.err);
  BOOST_TEST(scan.out.find("Violations handled: 14 (3 demoted, 0 revoked at or below the target "
                           "tier, 2 no action, 3 invalid severity, 6 unknown agent, 0 invalid "
                           "agent data)") != std::string::npos,
             scan.out);
  BOOST_TEST(scan.out.find("Mark: violation " + std::to_string(ids.back())) != std::string::npos,
             scan.out);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    BOOST_TEST(env.raw().text("SELECT outcome FROM sidecar_violation_outcomes WHERE "
                              "violation_id = " + std::to_string(ids[i])) == rows[i].outcome,
               "violation " << ids[i]);
    // The agent id is recorded as written (hostile ones too).
    BOOST_TEST(env.raw().text("SELECT hex(agent_id) FROM sidecar_violation_outcomes WHERE "
                              "violation_id = " + std::to_string(ids[i])) == hex(rows[i].v.agent),
               "violation " << ids[i]);
  }
  BOOST_TEST(text(ledger_tiers(env.raw())) ==
             text(std::map<std::string, std::int64_t>{
                 {"a1", 2}, {"a2", 0}, {"a3", 2}, {"bystander", 4}, {"evil/../x", 0}}));
  BOOST_TEST(env.raw().rows("SELECT agent_id, from_tier, to_tier, source, violation_id FROM "
                            "sidecar_demotions ORDER BY id") ==
             (std::vector<std::string>{"a1|3|2|violation|" + std::to_string(ids[2]),
                                       "a2|3|0|violation|" + std::to_string(ids[3]),
                                       "evil/../x|2|0|violation|" + std::to_string(ids[12])}));
  // Nothing else changed: every changed row (violations aside) is the revocation record or a
  // row of an agent a rule applied to.
  auto after = sorted_dump(env.raw());
  std::erase_if(after, [](const std::string& r) { return r.rfind("violations|", 0) == 0; });
  std::erase_if(before, [](const std::string& r) { return r.rfind("violations|", 0) == 0; });
  const auto changed = changed_rows(before, after);
  for (const auto& row : changed) {
    BOOST_TEST(allowed_change(row, {"a1", "a2", "evil/../x"}), row.substr(0, 300));
  }
  BOOST_TEST_MESSAGE(changed.size() << " ledger rows changed by revoke-scan (violations aside)");
  BOOST_TEST(env.raw().integer("SELECT COUNT(*) FROM sidecar_outbox WHERE agent_id NOT IN "
                               "('a1', 'a2', 'evil/../x')") == 0);
  BOOST_TEST(env.raw().integer("SELECT COUNT(*) FROM sidecar_revocation_steps WHERE agent_id NOT "
                               "IN ('a1', 'a2', 'evil/../x')") == 0);
  BOOST_TEST(problems_text(exactly_once_problems(env.raw())) == "");

  // Late rows: inserted with explicit ids below the mark while serve runs. The watcher finds
  // them, records them, counts and logs them as found below the mark.
  env.start_serve(config);
  BOOST_REQUIRE_MESSAGE(quiet_start(env), env.serve_log());
  const std::vector<Row> late = {
      {{"a3", "critical", "scope_exceeded", false, 50}, "demoted"},  // 2 -> 0
      {{"a1", "urgent", "scope_exceeded", false, 51}, "invalid_severity"},
      {{"ghost\r\n", "critical", "scope_exceeded", false, 52}, "unknown_agent"},
  };
  for (const auto& r : late) insert_violation(env.raw(), r.v);
  BOOST_TEST_REQUIRE(ServeEnv::eventually([&] {
    return env.raw().integer("SELECT COUNT(*) FROM sidecar_violation_outcomes WHERE "
                             "violation_id IN (50, 51, 52)") == 3;
  }), env.serve_log());
  for (const auto& r : late) {
    BOOST_TEST(env.raw().text("SELECT outcome FROM sidecar_violation_outcomes WHERE "
                              "violation_id = " + std::to_string(*r.v.id)) == r.outcome);
  }
  BOOST_TEST(env.raw().integer("SELECT last_violation_id FROM sidecar_revocation_mark") == ids.back());
  BOOST_TEST(env.raw().integer("SELECT current_tier FROM agent_metrics WHERE agent_id = 'a3'") == 0);
  BOOST_TEST(env.raw().integer("SELECT current_tier FROM agent_metrics WHERE agent_id = 'a1'") == 2);
  BOOST_TEST(env.raw().integer("SELECT current_tier FROM agent_metrics WHERE agent_id = 'bystander'") == 4);
  BOOST_TEST(env.metric("policy_sidecar_violations_total{outcome=\"below_mark\"}").value_or(-1) == 3.0);
  BOOST_TEST(env.metric("policy_sidecar_violations_total{outcome=\"invalid_severity\"}").value_or(-1) == 1.0);
  BOOST_TEST(env.metric("policy_sidecar_violations_total{outcome=\"unknown_agent\"}").value_or(-1) == 1.0);
  BOOST_TEST(env.metric("policy_sidecar_violations_total{outcome=\"demoted\"}").value_or(-1) == 1.0);
  const std::string log = env.serve_log();
  std::size_t found = 0;
  for (auto p = log.find("violation found below the mark"); p != std::string::npos;
       p = log.find("violation found below the mark", p + 1)) {
    ++found;
  }
  BOOST_TEST(found == 3u, log);
  const std::string audit = read_text_file(env.file("audit.jsonl"));
  BOOST_TEST(audit.find("violation.below_mark") != std::string::npos);
  BOOST_TEST(problems_text(exactly_once_problems(env.raw())) == "");

  // The platform's retention deletes handled violations; a row inserted late below the mark
  // afterwards is still found (the outcome rows of deleted violations do not hide it).
  env.raw().exec("DELETE FROM violations WHERE id IN (" + std::to_string(ids[0]) + ", " +
                 std::to_string(ids[1]) + ")");
  insert_violation(env.raw(), {"a1", "critical", "scope_exceeded", false, 60});
  BOOST_TEST(ServeEnv::eventually([&] {
    return env.raw().text("SELECT outcome FROM sidecar_violation_outcomes WHERE violation_id = 60") ==
           "demoted";
  }), env.serve_log());
  BOOST_TEST(env.raw().integer("SELECT current_tier FROM agent_metrics WHERE agent_id = 'a1'") == 0);

  // Vault follows the agents a rule applied to, and only them.
  BOOST_TEST(ServeEnv::eventually([&] {
    return vault.role_policies("agent-a1") == tier_policies(0) &&
           vault.role_policies("agent-a2") == tier_policies(0) &&
           vault.role_policies("agent-a3") == tier_policies(0);
  }), env.serve_log());
  BOOST_TEST(text(vault.role_policies("agent-bystander")) == text(tier_policies(4)));
  for (const char* absent : {"agent-nobody", "agent-ghost"}) {
    BOOST_TEST(text(vault.role_policies(absent)) == "<missing>", absent);
  }
  // The agent whose id names no role: its outbox row and steps are parked with the reason.
  BOOST_TEST(ServeEnv::eventually([&] {
    return env.raw().integer("SELECT COUNT(*) FROM sidecar_revocation_steps WHERE agent_id = "
                             "'evil/../x' AND state = 'failed'") == 1;
  }), env.serve_log());
  BOOST_TEST_MESSAGE("outbox row of evil/../x: "
                     << env.raw().rows("SELECT state, last_error FROM sidecar_outbox WHERE "
                                       "agent_id = 'evil/../x'").at(0));
  BOOST_TEST(env.stop_serve() == 0);
}

BOOST_AUTO_TEST_SUITE_END()
