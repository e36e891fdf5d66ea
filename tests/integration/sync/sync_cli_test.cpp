// The real policy-sidecar binary against the real vault-emulator over TLS: promote/demote,
// sync, status, reconcile (plan, exit codes, drift modes), missing roles, a least-privilege
// token that may not update one role.
#include <boost/test/unit_test.hpp>

#include "tests/integration/sync/sync_harness.h"

using namespace ps::sidecar::itest;
using nlohmann::json;
using PL = std::vector<std::string>;

namespace {

void ok(const ps::testing::ProcessResult& r, const std::string& what) {
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, what << " exited " << r.exit_code << "\nstdout: "
                                               << r.out << "\nstderr: " << r.err);
}

json status_json(SyncWorld& w, const std::vector<std::string>& extra = {}) {
  std::vector<std::string> args = {"status", "--json"};
  args.insert(args.end(), extra.begin(), extra.end());
  auto r = w.cli(args);
  ok(r, "status");
  return json::parse(r.out);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(sync_cli)

BOOST_AUTO_TEST_CASE(promotion_reaches_the_role_in_vault_over_tls) {
  SyncWorld w;
  w.add_agent("a1", 0);
  w.set_role("a1", {"t0-observer", "db-read"});
  ok(w.cli({"promote", "a1", "--approved-by", "ops"}), "promote");
  auto before = status_json(w);
  BOOST_TEST(before["outbox"]["pending"] == 1);
  BOOST_TEST(*w.role("a1") == (PL{"db-read", "t0-observer"}), boost::test_tools::per_element());

  auto sync = w.cli({"sync"});
  ok(sync, "sync");
  BOOST_TEST(sync.out.find("Synced 1 agent") != std::string::npos);
  BOOST_TEST(*w.role("a1") == (PL{"db-read", "t1-observer"}), boost::test_tools::per_element());

  auto agent = status_json(w, {"--agent", "a1"});
  BOOST_TEST(agent["ledger_tier"] == 1);
  BOOST_TEST(agent["sync"]["state"] == "synced");
  BOOST_TEST(agent["sync"]["generation"] == agent["sync"]["synced_generation"]);
  BOOST_TEST(agent["history"][0]["outcome"] == "synced");

  auto plan = w.cli({"reconcile", "--dry-run", "--detailed-exitcode"});
  BOOST_TEST(plan.exit_code == 0, plan.out << plan.err);
  // The sidecar's own requests went to the per-field endpoint of that one role.
  BOOST_TEST(w.requests("/v1/auth/approle/role/agent-a1/policies") >= 3u);
  BOOST_TEST(w.requests("/v1/auth/approle/role/agent-a1/policies", 204) == 1u);
}

BOOST_AUTO_TEST_CASE(demotion_takes_the_tier_policies_away_and_promotions_stay_unchanged) {
  SyncWorld w;
  w.add_agent("a1", 3);
  w.set_role("a1", {"t3-observer"});
  auto d = w.cli({"demote", "a1", "--to-tier", "1", "--reason", "critical violation", "--by",
                  "secops"});
  ok(d, "demote");
  BOOST_TEST(d.out.find("[OK] Demoted a1 from Tier 3 to Tier 1") != std::string::npos);
  ok(w.cli({"sync"}), "sync");
  BOOST_TEST(*w.role("a1") == (PL{"t1-observer"}), boost::test_tools::per_element());
  BOOST_TEST(w.sql_int("SELECT COUNT(*) FROM promotions") == 0);
  BOOST_TEST(w.sql_int("SELECT COUNT(*) FROM sidecar_demotions WHERE demoted_by = 'secops'") == 1);
  auto again = w.cli({"demote", "a1", "--to-tier", "2", "--reason", "x"});
  BOOST_TEST(again.exit_code == 1);
  BOOST_TEST(again.out.find("[FAILED]") == 0u);
}

BOOST_AUTO_TEST_CASE(reconcile_plan_exit_codes_and_correct_mode_keep_unmanaged_policies) {
  SyncWorld w;
  w.add_agent("a1", 1);
  w.add_agent("a2", 2);
  w.set_role("a1", {"t1-observer"});
  w.set_role("a2", {"t4-observer", "db-read"});  // edited behind the sidecar's back

  auto plan = w.cli({"reconcile", "--dry-run", "--detailed-exitcode"});
  BOOST_TEST(plan.exit_code == 2, plan.out << plan.err);
  BOOST_TEST(plan.out.find("AGENT\tROLE\tEXPECTED\tFOUND\tACTION") == 0u);
  BOOST_TEST(plan.out.find("a2\tagent-a2\tt2-observer\tdb-read,t4-observer\trepair") !=
             std::string::npos, plan.out);
  BOOST_TEST(w.sql_int("SELECT COUNT(*) FROM sidecar_drift") == 0);
  BOOST_TEST(*w.role("a2") == (PL{"db-read", "t4-observer"}), boost::test_tools::per_element());

  auto real = w.cli({"reconcile"});
  BOOST_TEST(real.exit_code == 0, real.out << real.err);
  BOOST_TEST(w.sql_int("SELECT COUNT(*) FROM sidecar_drift WHERE agent_id = 'a2' AND "
                       "action = 'repair' AND mode = 'correct'") == 1);
  ok(w.cli({"sync"}), "sync");
  BOOST_TEST(*w.role("a2") == (PL{"db-read", "t2-observer"}), boost::test_tools::per_element());
  auto after = w.cli({"reconcile", "--detailed-exitcode"});
  BOOST_TEST(after.exit_code == 0, after.out << after.err);
}

BOOST_AUTO_TEST_CASE(detect_reports_and_ignore_leaves_the_role_alone) {
  WorldOptions detect;
  detect.reconcile = {{"drift_mode", "detect"}};
  SyncWorld w(detect);
  w.add_agent("a1", 1);
  w.set_role("a1", {"custom"});  // missing its tier policy: reported, not repaired, in detect
  auto r = w.cli({"reconcile", "--detailed-exitcode"});
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(r.out.find("a1\tagent-a1\tt1-observer\tcustom\treport") != std::string::npos);
  BOOST_TEST(w.sql_int("SELECT COUNT(*) FROM sidecar_drift WHERE action = 'report'") == 1);
  BOOST_TEST(w.sql_int("SELECT COUNT(*) FROM sidecar_outbox") == 0);
  ok(w.cli({"sync"}), "sync");
  BOOST_TEST(*w.role("a1") == (PL{"custom"}), boost::test_tools::per_element());

  WorldOptions ignore;
  ignore.reconcile = {{"drift_mode", "ignore"}};
  w.write_config(ignore);
  const auto reads = w.requests("/v1/auth/approle/role/");
  auto i = w.cli({"reconcile", "--detailed-exitcode"});
  BOOST_TEST(i.exit_code == 0, i.out << i.err);
  BOOST_TEST(w.requests("/v1/auth/approle/role/") == reads);
  BOOST_TEST(w.sql_int("SELECT COUNT(*) FROM sidecar_drift") == 1);
  BOOST_TEST(*w.role("a1") == (PL{"custom"}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_role_deleted_under_the_sidecar_is_parked_reported_and_retried) {
  SyncWorld w;
  w.add_agent("a1", 0);
  w.add_agent("a2", 0);
  w.set_role("a1", {"t0-observer"});
  w.set_role("a2", {"t0-observer"});
  w.delete_role("a1");
  ok(w.cli({"promote", "a1", "--approved-by", "ops"}), "promote a1");
  ok(w.cli({"promote", "a2", "--approved-by", "ops"}), "promote a2");
  auto sync = w.cli({"sync"});
  BOOST_TEST(sync.exit_code == 1);
  BOOST_TEST(sync.out.find("a1 (role agent-a1, tier 1, generation 1): role_missing") !=
             std::string::npos, sync.out);
  BOOST_TEST(*w.role("a2") == (PL{"t1-observer"}), boost::test_tools::per_element());
  auto st = status_json(w);
  BOOST_TEST(st["outbox"]["failed"] == 1);
  BOOST_TEST(st["failed"][0]["error_code"] == "role_missing");
  auto text = w.cli({"status"});
  BOOST_TEST(text.out.find("Parked pushes") != std::string::npos);

  // Parked: another sync does not touch it.
  const auto calls = w.requests("/v1/auth/approle/role/agent-a1");
  BOOST_TEST(w.cli({"sync"}).exit_code == 1);
  BOOST_TEST(w.requests("/v1/auth/approle/role/agent-a1") == calls);

  // Someone recreates the role; the reconciler retries the parked push.
  w.set_role("a1", {"t0-observer"});
  auto rec = w.cli({"reconcile"});
  BOOST_TEST(rec.exit_code == 0, rec.out << rec.err);
  BOOST_TEST(rec.out.find("a1\tagent-a1\tt1-observer\tt0-observer\tretry") != std::string::npos,
             rec.out);
  ok(w.cli({"sync"}), "sync after reconcile");
  BOOST_TEST(*w.role("a1") == (PL{"t1-observer"}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(missing_role_is_created_when_configured) {
  WorldOptions o;
  o.roles = {{"missing_role", "create"}};
  SyncWorld w(o);
  w.add_agent("a1", 2);
  ok(w.cli({"demote", "a1", "--to-tier", "0", "--reason", "r"}), "demote");
  ok(w.cli({"sync"}), "sync");
  BOOST_TEST(*w.role("a1") == (PL{"t0-observer"}), boost::test_tools::per_element());
}

// The sidecar's own token may update every agent role but one (an exact-path deny): that push
// is parked with permission_denied and is not retried in a loop; the others go through.
BOOST_AUTO_TEST_CASE(permission_denied_is_parked_and_not_retried_in_a_loop) {
  SyncWorld w;
  const json policy = {
      {"path",
       {{"auth/approle/role/+/policies", {{"capabilities", {"read", "update"}}}},
        {"auth/approle/role/agent-locked/policies", {{"capabilities", {"read"}}}}}}};
  w.emu->put_policy("sidecar", policy);
  auto created = w.emu->root("POST", "/v1/auth/token/create",
                             {{"policies", {"sidecar"}}, {"no_default_policy", true}});
  BOOST_REQUIRE(created.status == 200);
  const std::string token = created.body["auth"]["client_token"].get<std::string>();
  for (const char* a : {"locked", "free"}) {
    w.add_agent(a, 0);
    w.set_role(a, {"t0-observer"});
    ok(w.cli({"promote", a, "--approved-by", "ops"}), "promote");
  }
  const std::vector<std::string> as_sidecar = {"VAULT_TOKEN=" + token};
  auto sync = w.cli({"sync", "--wait", "2"}, as_sidecar);
  BOOST_TEST(sync.exit_code == 1, sync.out << sync.err);
  BOOST_TEST(sync.out.find("locked (role agent-locked, tier 1, generation 1): permission_denied") !=
             std::string::npos, sync.out);
  BOOST_TEST(sync.err.find(token) == std::string::npos);
  BOOST_TEST(sync.out.find(token) == std::string::npos);
  BOOST_TEST(*w.role("free") == (PL{"t1-observer"}), boost::test_tools::per_element());
  for (int i = 0; i < 3; ++i) BOOST_TEST(w.cli({"sync"}, as_sidecar).exit_code == 1);
  // One denied write in all: parked, never retried by sync.
  BOOST_TEST(w.requests("/v1/auth/approle/role/agent-locked/policies", 403) == 1u);

  // The policy is fixed; the reconciler retries the parked push, which now goes through.
  w.emu->put_policy("sidecar", {{"path",
                                 {{"auth/approle/role/+/policies",
                                   {{"capabilities", {"read", "update"}}}}}}});
  ok(w.cli({"reconcile"}, as_sidecar), "reconcile");
  ok(w.cli({"sync"}, as_sidecar), "sync");
  BOOST_TEST(*w.role("locked") == (PL{"t1-observer"}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(configuration_problems_exit_78_naming_the_setting) {
  SyncWorld w;
  auto no_token = w.cli({"sync"}, {"VAULT_TOKEN="});
  BOOST_TEST(no_token.exit_code == 78);  // EX_CONFIG: the sidecar's own commands
  BOOST_TEST(no_token.err.find("VAULT_TOKEN") != std::string::npos, no_token.err);
  auto bad_addr = w.cli({"reconcile"}, {"VAULT_ADDR=http://vault.example:8200"});
  BOOST_TEST(bad_addr.exit_code == 78);  // EX_CONFIG: the sidecar's own commands
  BOOST_TEST(bad_addr.err.find("vault") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
