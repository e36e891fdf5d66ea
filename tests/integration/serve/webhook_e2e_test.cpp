// The approval webhook end to end: vault-emulator and `policy-sidecar serve` as separate
// processes over TLS on 127.0.0.1.
#include <boost/test/unit_test.hpp>
#include <future>
#include <thread>

#include "tests/integration/serve/serve_harness.h"

using namespace ps::testing;
using namespace ps::testing::serve;
using namespace std::chrono_literals;

namespace {

void seed(ServeEnv& env, const std::vector<std::pair<std::string, int>>& agents) {
  env.raw().exec("BEGIN");
  for (const auto& [agent, tier] : agents) seed_ready_agent(env.raw(), agent, tier, std::chrono::system_clock::now());
  env.raw().exec("COMMIT");
}

// The first reconcile pass (at start) writes its records; wait for it so that a dump of the
// ledger afterwards changes only through what the test does.
void wait_for_quiet_start(ServeEnv& env) {
  BOOST_REQUIRE(ServeEnv::eventually([&] {
    auto runs = env.metric("policy_sidecar_reconcile_runs_total{result=\"ok\"}");
    return runs && *runs >= 1;
  }));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(serve_webhook_e2e)

BOOST_AUTO_TEST_CASE(signed_approval_changes_the_roles_policies_in_vault) {
  ServeEnv env;
  seed(env, {{"alpha", 0}});
  env.start_serve(env.write_config());
  const HttpReply r = env.send_approval(approval_body("alpha", 1, "anyone"), "msg_alpha_1");
  BOOST_TEST(r.status == 200, r.body);
  const auto data = r.json()["data"];
  BOOST_TEST(data["agent_id"] == "alpha");
  BOOST_TEST(data["from_tier"] == 0);
  BOOST_TEST(data["to_tier"] == 1);
  BOOST_TEST(data["sync_state"] == "pending");
  // The answer came after the commit: the row is there already.
  BOOST_TEST(env.raw().integer("SELECT count(*) FROM promotions WHERE agent_id = 'alpha' AND id = " +
                               std::to_string(data["promotion_id"].get<int>())) == 1);
  BOOST_TEST(ServeEnv::eventually([&] {
    auto p = env.role_policies("agent-alpha");
    return p && *p == std::vector<std::string>{"t1-observer"};
  }), env.serve_log());
  BOOST_TEST(ServeEnv::eventually([&] {
    auto synced = env.metric("policy_sidecar_outbox_rows{state=\"synced\"}");
    return synced && *synced == 1;
  }));
  BOOST_TEST(*env.metric("policy_sidecar_promotions_total{source=\"webhook\",result=\"promoted\"}") == 1);
  BOOST_TEST(env.metric("policy_sidecar_vault_requests_total{operation=\"write_role\",status=\"204\"}").has_value());
  const std::string audit = read_text_file(env.file("audit.jsonl"));
  BOOST_TEST(audit.find("\"event\":\"promotion\"") != std::string::npos);
  BOOST_TEST(audit.find(env.secret().substr(6, 12)) == std::string::npos);
}

BOOST_AUTO_TEST_CASE(repeated_id_gets_the_same_answer_also_after_a_restart) {
  ServeEnv env;
  seed(env, {{"beta", 0}});
  const std::string config = env.write_config();
  env.start_serve(config);
  const std::string body = approval_body("beta", 1, "anyone");
  const HttpReply first = env.send_approval(body, "msg_beta");
  BOOST_REQUIRE(first.status == 200);
  const HttpReply again = env.send_approval(body, "msg_beta");
  BOOST_TEST(again.status == 200);
  BOOST_TEST(again.body == first.body);
  BOOST_TEST(again.header("Idempotent-Replayed") == "true");
  BOOST_TEST(env.stop_serve() == 0);
  env.start_serve(config);
  const HttpReply after_restart = env.send_approval(body, "msg_beta");
  BOOST_TEST(after_restart.status == 200);
  BOOST_TEST(after_restart.body == first.body);
  BOOST_TEST(env.raw().integer("SELECT count(*) FROM promotions") == 1);
  BOOST_TEST(env.raw().text("SELECT current_tier FROM agent_metrics WHERE agent_id = 'beta'") == "1");
}

BOOST_AUTO_TEST_CASE(the_same_id_sent_twenty_times_concurrently_promotes_once) {
  ServeEnv env;
  seed(env, {{"gamma", 0}});
  env.start_serve(env.write_config());
  const std::string body = approval_body("gamma", 1, "anyone");
  const auto signed_headers = sign_approval(env.secret(), "msg_gamma_race", unix_now(), body);
  std::vector<std::future<HttpReply>> replies;
  for (int i = 0; i < 20; ++i) {
    replies.push_back(std::async(std::launch::async, [&] {
      return env.post("/v1/webhooks/approval", body,
                      {{"webhook-id", signed_headers.id},
                       {"webhook-timestamp", signed_headers.timestamp},
                       {"webhook-signature", signed_headers.signature}});
    }));
  }
  std::vector<HttpReply> answers;
  for (auto& f : replies) answers.push_back(f.get());
  for (const auto& a : answers) {
    BOOST_TEST(a.status == 200, a.body);
    BOOST_TEST(a.body == answers[0].body);
  }
  BOOST_TEST(env.raw().integer("SELECT count(*) FROM promotions") == 1);
  BOOST_TEST(env.raw().integer("SELECT count(*) FROM sidecar_webhook_deliveries") == 1);
  BOOST_TEST(env.raw().integer("SELECT generation FROM sidecar_outbox WHERE agent_id = 'gamma'") == 1);
}

BOOST_AUTO_TEST_CASE(every_refused_request_gets_its_status_and_leaves_the_ledger_unchanged) {
  ServeEnv env;
  seed(env, {{"delta", 0}, {"epsilon", 2}, {"zeta", 3}});
  env.raw().exec("INSERT INTO agent_metrics (agent_id, current_tier) VALUES ('fresh', 0)");
  env.start_serve(env.write_config());
  wait_for_quiet_start(env);
  const auto before = dump_ledger(env.raw());
  const std::string good = approval_body("delta", 1, "anyone");
  const auto h = sign_approval(env.secret(), "msg_refused", unix_now(), good);
  const std::string truncated = good.substr(0, good.size() - 7);
  auto signed_post = [&](const std::string& body, const std::string& id, const std::string& ct) {
    auto s = sign_approval(env.secret(), id, unix_now(), body);
    return env.post("/v1/webhooks/approval", body,
                    {{"webhook-id", s.id}, {"webhook-timestamp", s.timestamp},
                     {"webhook-signature", s.signature}},
                    ct);
  };
  struct Case {
    std::string name;
    HttpReply reply;
    int status;
  };
  std::vector<Case> cases;
  cases.push_back({"forged", env.post("/v1/webhooks/approval", good,
                                      {{"webhook-id", h.id}, {"webhook-timestamp", h.timestamp},
                                       {"webhook-signature", "v1,dGhpcyBpcyBub3QgYSByZWFsIHNpZ25hdHVyZSEhIQ=="}}),
                   401});
  cases.push_back({"re-signed with a wrong secret",
                   env.send_approval(good, "msg_wrong", 0, make_secret("not-the-configured-key")), 401});
  cases.push_back({"stale", env.send_approval(good, "msg_stale", -400), 401});
  cases.push_back({"future", env.send_approval(good, "msg_future", 400), 401});
  cases.push_back({"unsigned", env.post("/v1/webhooks/approval", good, {}), 401});
  cases.push_back({"truncated body, original signature",
                   env.post("/v1/webhooks/approval", truncated,
                            {{"webhook-id", h.id}, {"webhook-timestamp", h.timestamp},
                             {"webhook-signature", h.signature}}),
                   401});
  cases.push_back({"truncated JSON, signed", signed_post(truncated, "msg_trunc", "application/json"), 400});
  cases.push_back({"oversized", signed_post(std::string(70000, ' ') + good, "msg_big", "application/json"), 413});
  cases.push_back({"not JSON content type", signed_post(good, "msg_ct", "text/plain"), 415});
  cases.push_back({"non-JSON body", signed_post("approve delta", "msg_nj", "application/json"), 400});
  cases.push_back({"wrong type",
                   signed_post(R"({"type":"promotion.approved","data":{"agent_id":"delta","target_tier":"1","approver":"a"}})",
                               "msg_type", "application/json"),
                   400});
  cases.push_back({"missing field",
                   signed_post(R"({"type":"promotion.approved","data":{"agent_id":"delta","target_tier":1}})",
                               "msg_missing", "application/json"),
                   400});
  cases.push_back({"approver not a reviewer (T2->T3)", signed_post(approval_body("epsilon", 3, "mallory"), "msg_rev", "application/json"), 403});
  cases.push_back({"reviewer on an admin tier (T3->T4)", signed_post(approval_body("zeta", 4, "rev"), "msg_adm", "application/json"), 403});
  cases.push_back({"not at the previous tier", signed_post(approval_body("delta", 2, "rev"), "msg_tier", "application/json"), 409});
  cases.push_back({"not eligible", signed_post(approval_body("fresh", 1, "rev"), "msg_fresh", "application/json"), 409});
  for (const auto& c : cases) {
    BOOST_TEST(c.reply.status == c.status, c.name << ": " << c.reply.body);
    if (c.reply.status != 0) {
      BOOST_TEST(c.reply.json()["errors"].is_array(), c.name);
      BOOST_TEST(c.reply.body.find(env.secret().substr(6, 12)) == std::string::npos, c.name);
    }
  }
  // Chunked bodies and a Content-Length longer than the body (the client stalls) over raw TLS.
  const std::string chunked = env.raw_request(
      "POST /v1/webhooks/approval HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 5s);
  BOOST_TEST(chunked.rfind("HTTP/1.1 400", 0) == 0u, chunked);  // strict framing: never chunked
  const std::string short_body = env.raw_request(
      "POST /v1/webhooks/approval HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "webhook-id: " + h.id + "\r\nwebhook-timestamp: " + h.timestamp + "\r\nwebhook-signature: " +
          h.signature + "\r\nContent-Length: " + std::to_string(good.size()) + "\r\n\r\n" + truncated,
      10s);
  // The stalled body runs into the listener's read timeout (2 s here): 400, then the close.
  BOOST_TEST(short_body.rfind("HTTP/1.1 400", 0) == 0u, "[" << short_body.size() << "] " << short_body.substr(0, 200));
  BOOST_TEST(short_body.find("malformed request") != std::string::npos, short_body);
  BOOST_TEST(dump_ledger(env.raw()) == before);
  // Each refusal of a signed request is in the audit trail with its reason; the
  // unauthenticated ones (401) are counted and logged, never audited.
  const std::string audit = read_text_file(env.file("audit.jsonl"));
  for (const char* reason : {"\"reason\":\"content_type\"", "\"reason\":\"malformed\"",
                             "\"reason\":\"forbidden\"", "\"reason\":\"wrong_tier\"",
                             "\"reason\":\"not_eligible\""}) {
    BOOST_TEST(audit.find(reason) != std::string::npos, reason);
  }
  for (const char* reason : {"\"reason\":\"signature\"", "\"reason\":\"stale\"",
                             "\"reason\":\"future\"", "\"reason\":\"headers\""}) {
    BOOST_TEST(audit.find(reason) == std::string::npos, reason);
  }
  BOOST_TEST(env.serve_log().find("\"authenticated\":false") != std::string::npos);
  BOOST_TEST(*env.metric("policy_sidecar_webhook_requests_total{status=\"401\"}") == 6);
  BOOST_TEST(*env.metric("policy_sidecar_webhook_rejections_total{reason=\"stale\"}") == 1);
  BOOST_TEST(*env.metric("policy_sidecar_webhook_requests_total{status=\"413\"}") == 1);
  // The same ids, now properly signed and allowed, still go through: refusals burn nothing.
  BOOST_TEST(signed_post(approval_body("epsilon", 3, "rev"), "msg_rev", "application/json").status == 200);
  BOOST_TEST(signed_post(approval_body("zeta", 4, "adm"), "msg_adm", "application/json").status == 200);
}

BOOST_AUTO_TEST_CASE(examples_send_approval_sh_signs_what_the_daemon_accepts) {
  ServeEnv env;
  seed(env, {{"omicron", 0}});
  env.start_serve(env.write_config());
  const std::string url = "https://127.0.0.1:" + std::to_string(env.port());
  const std::string script = repo_root() + "/examples/send-approval.sh";
  auto r = run_process({script, url, env.file("secrets"), "omicron", "1", "script-user", "via the example"},
                       {"CACERT=" + env.ca(), "WEBHOOK_ID=msg_script", "REVIEW_ID=CHG-7"});
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST(r.out.find("\"to_tier\":1") != std::string::npos, r.out);
  BOOST_TEST(env.raw().text("SELECT review_id FROM sidecar_webhook_deliveries WHERE webhook_id = 'msg_script'") == "CHG-7");
  // The same delivery again: same answer; a denial for a step not pending: 409, exit 22.
  auto again = run_process({script, url, env.file("secrets"), "omicron", "1", "script-user", "via the example"},
                           {"CACERT=" + env.ca(), "WEBHOOK_ID=msg_script", "REVIEW_ID=CHG-7"});
  BOOST_TEST(again.out == r.out);
  auto denial = run_process({script, url, env.file("secrets"), "omicron", "1", "script-user"},
                            {"CACERT=" + env.ca(), "TYPE=promotion.denied"});
  BOOST_TEST(denial.exit_code == 22);
  BOOST_TEST(denial.out.find("errors") != std::string::npos, denial.out);
}

BOOST_AUTO_TEST_CASE(denial_is_recorded_and_changes_no_tier_or_policy) {
  ServeEnv env;
  seed(env, {{"eta", 2}});
  env.start_serve(env.write_config());
  const HttpReply r = env.send_approval(approval_body("eta", 3, "rev", "promotion.denied"), "msg_deny");
  BOOST_TEST(r.status == 200, r.body);
  BOOST_TEST(r.json()["data"]["denied_by"] == "rev");
  BOOST_TEST(env.raw().text("SELECT current_tier FROM agent_metrics WHERE agent_id = 'eta'") == "2");
  BOOST_TEST(env.raw().integer("SELECT count(*) FROM sidecar_denials WHERE agent_id = 'eta'") == 1);
  BOOST_TEST(env.raw().integer("SELECT count(*) FROM promotions") == 0);
  BOOST_TEST(*env.metric("policy_sidecar_denials_total{result=\"recorded\"}") == 1);
  const HttpReply agent = env.get("/v1/agents/eta", env.api_token());
  BOOST_TEST(agent.status == 200);
  BOOST_TEST(agent.json()["data"]["recent_denials"].size() == 1u);
}

BOOST_AUTO_TEST_SUITE_END()
