// What operators and monitoring see: health following Vault's seal state, the operator API
// (bearer token, hostile ids), and metrics moving as events happen.
#include <boost/test/unit_test.hpp>

#include "tests/integration/serve/serve_harness.h"

using namespace ps::testing;
using namespace ps::testing::serve;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_SUITE(serve_ops_e2e)

BOOST_AUTO_TEST_CASE(health_turns_degraded_when_vault_is_sealed_and_back_when_unsealed) {
  ServeEnv env;
  env.start_serve(env.write_config());
  auto status_of = [&] {
    const HttpReply r = env.get("/v1/sys/health");
    return std::make_pair(r.status, r.status ? r.json()["status"].get<std::string>() : "");
  };
  BOOST_REQUIRE(ServeEnv::eventually([&] { return status_of() == std::make_pair(200, std::string("ok")); }));
  const HttpReply ok = env.get("/v1/sys/health");
  for (const char* check : {"ledger", "vault", "token", "outbox"}) {
    BOOST_TEST(ok.json()["checks"][check]["status"] == "ok", check);
  }

  BOOST_REQUIRE(env.emulator_admin("/_emulator/seal") == 204);
  BOOST_TEST(ServeEnv::eventually([&] { return status_of() == std::make_pair(200, std::string("degraded")); }));
  const HttpReply sealed = env.get("/v1/sys/health", env.api_token());
  BOOST_TEST(env.get("/v1/sys/health?degradedcode=429").status == 429);
  BOOST_TEST(!env.get("/v1/sys/health").json()["checks"]["vault"].contains("reason"));
  BOOST_TEST(env.get("/v1/sys/health?degradedcode=abc").status == 400);
  BOOST_TEST(sealed.json()["checks"]["vault"]["reason"].get<std::string>().find("sealed") != std::string::npos,
             sealed.body);
  BOOST_TEST(*env.metric("policy_sidecar_vault_up") == 0);

  BOOST_REQUIRE(env.emulator_admin("/_emulator/unseal") == 204);
  BOOST_TEST(ServeEnv::eventually([&] { return status_of() == std::make_pair(200, std::string("ok")); }));
  BOOST_TEST(*env.metric("policy_sidecar_vault_up") == 1);
  BOOST_TEST(env.serve_log().find("health.changed") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(approvals_while_vault_is_sealed_commit_and_reach_vault_after_unseal) {
  ServeEnv env;
  env.raw().exec("BEGIN");
  seed_ready_agent(env.raw(), "kappa", 0, std::chrono::system_clock::now());
  env.raw().exec("COMMIT");
  env.start_serve(env.write_config());
  BOOST_REQUIRE(env.emulator_admin("/_emulator/seal") == 204);
  const HttpReply r = env.send_approval(approval_body("kappa", 1, "anyone"), "msg_kappa");
  BOOST_TEST(r.status == 200, r.body);
  BOOST_TEST(ServeEnv::eventually([&] {
    auto age = env.metric("policy_sidecar_outbox_rows{state=\"pending\"}");
    return age && *age == 1;
  }));
  BOOST_REQUIRE(env.emulator_admin("/_emulator/unseal") == 204);
  BOOST_TEST(ServeEnv::eventually([&] {
    auto p = env.role_policies("agent-kappa");
    return p && *p == std::vector<std::string>{"t1-observer"};
  }, 30s), env.serve_log());
}

BOOST_AUTO_TEST_CASE(operator_api_needs_the_bearer_token_and_answers_in_envelopes) {
  ServeEnv env;
  env.raw().exec("BEGIN");
  seed_ready_agent(env.raw(), "lambda", 0, std::chrono::system_clock::now());
  seed_ready_agent(env.raw(), "mu", 2, std::chrono::system_clock::now());
  env.raw().exec("COMMIT");
  env.start_serve(env.write_config());
  BOOST_TEST(env.get("/v1/eligible").status == 401);
  BOOST_TEST(env.get("/v1/eligible", "wrong-token-wrong-token").status == 403);
  BOOST_TEST(env.get("/v1/eligible", env.api_token() + "x").status == 403);

  const HttpReply eligible = env.get("/v1/eligible", env.api_token());
  BOOST_TEST(eligible.status == 200);
  BOOST_TEST(eligible.json()["data"]["agents"].size() == 2u);
  BOOST_TEST(eligible.json()["data"]["agents"][1]["status"] == "PENDING_REVIEW");

  BOOST_REQUIRE(env.send_approval(approval_body("lambda", 1, "anyone"), "msg_lambda").status == 200);
  const HttpReply agent = env.get("/v1/agents/lambda", env.api_token());
  BOOST_TEST(agent.status == 200);
  BOOST_TEST(agent.json()["data"]["current_tier"] == 1);
  BOOST_TEST(agent.json()["data"]["evaluation"]["target_tier"] == 2);
  BOOST_TEST(agent.json()["data"]["sync"]["tier"] == 1);
  BOOST_TEST(env.get("/v1/agents/nobody", env.api_token()).status == 404);

  const HttpReply promotions = env.get("/v1/promotions?agent_id=lambda&limit=5", env.api_token());
  BOOST_TEST(promotions.status == 200);
  BOOST_TEST(promotions.json()["data"]["promotions"][0]["approved_by"] == "anyone");
  BOOST_TEST(env.get("/v1/promotions?limit=0", env.api_token()).status == 400);
  BOOST_TEST(env.get("/v1/promotions?limit=abc", env.api_token()).status == 400);

  BOOST_TEST(ServeEnv::eventually([&] {
    return env.get("/v1/sync", env.api_token()).json()["data"]["synced"] == 1;
  }));
  const HttpReply plan = env.post("/v1/reconcile?dry_run=true", "", {{"Authorization", "Bearer " + env.api_token()}});
  BOOST_TEST(plan.status == 200, plan.body);
  BOOST_TEST(plan.json()["data"]["summary"]["dry_run"] == true);
  BOOST_TEST(plan.json()["data"]["summary"]["agents"] == 2);
  BOOST_TEST(env.post("/v1/reconcile?dry_run=maybe", "", {{"Authorization", "Bearer " + env.api_token()}}).status == 400);
  BOOST_TEST(env.post("/v1/reconcile", "", {}).status == 401);
}

BOOST_AUTO_TEST_CASE(slow_and_idle_connections_are_closed) {
  ServeEnv env;
  env.start_serve(env.write_config({{"listener", {{"read_timeout_s", 1}, {"idle_timeout_s", 1}}}}));
  // A client that connects and says nothing, one that stops in the middle of its headers,
  // one that stops in the middle of its body, one that keeps an idle keep-alive connection:
  // each is closed by the server (limit far above the 1 s timeouts; a server that never closes
  // fails), and the daemon still answers afterwards.
  const std::string partial_headers = "GET /v1/sys/health HTTP/1.1\r\nHost: localhost\r\nX-A: ";
  const std::string partial_body =
      "POST /v1/webhooks/approval HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
      "Content-Length: 100\r\n\r\n{\"type\":";
  const std::string keep_alive = "GET /v1/sys/health HTTP/1.1\r\nHost: localhost\r\n\r\n";
  for (const std::string& bytes : {std::string(), partial_headers, partial_body}) {
    const auto c = env.wait_for_close(bytes, 15s);
    BOOST_TEST(c.closed, "still open: " << bytes);
    BOOST_TEST(c.received.find("200 OK") == std::string::npos, c.received);
  }
  const auto idle = env.wait_for_close(keep_alive, 15s);
  BOOST_TEST(idle.closed);
  BOOST_TEST(idle.received.find("HTTP/1.1 200") == 0u, idle.received);  // answered, then closed
  BOOST_TEST(env.get("/v1/sys/health").status == 200);
}

BOOST_AUTO_TEST_CASE(hostile_agent_ids_get_400_and_never_crash_the_daemon) {
  ServeEnv env;
  env.start_serve(env.write_config());
  const std::string auth = "Authorization: Bearer " + env.api_token() + "\r\n";
  for (const std::string& path : std::vector<std::string>{"/v1/agents/%00abc", "/v1/agents/%ff%fe", "/v1/agents/a%0d%0aX-Injected:%201",
        "/v1/agents/" + std::string(600, 'a'), "/v1/agents/%c0%af", "/v1/agents/%ed%a0%80",
        "/v1/agents/%7f", "/v1/agents/%c2%85"}) {
    const std::string reply = env.raw_request("GET " + path + " HTTP/1.1\r\nHost: x\r\n" + auth +
                                                  "Connection: close\r\n\r\n", 5s);
    BOOST_TEST(reply.rfind("HTTP/1.1 400", 0) == 0u, path << ": " << reply.substr(0, 80));
  }
  // Odd but valid ids are looked up, not refused: 404 (no such agent).
  for (const std::string& path : std::vector<std::string>{"/v1/agents/..%2f..%2fetc%2fpasswd", "/v1/agents/%e2%9c%93", "/v1/agents/a%20b"}) {
    const std::string reply = env.raw_request("GET " + path + " HTTP/1.1\r\nHost: x\r\n" + auth +
                                                  "Connection: close\r\n\r\n", 5s);
    BOOST_TEST(reply.rfind("HTTP/1.1 404", 0) == 0u, path << ": " << reply.substr(0, 80));
  }
  // Garbage on the wire.
  static constexpr char kGarbage[] = "\x16\x03\x01\xff\xff garbage\r\n\r\n";
  env.raw_request(std::string(kGarbage, sizeof kGarbage - 1), 2s);
  env.raw_request("GET /" + std::string(20000, 'x') + " HTTP/1.1\r\nHost: x\r\n\r\n", 2s);
  env.raw_request("POST /v1/webhooks/approval HTTP/1.1\r\nContent-Length: -5\r\n\r\n", 2s);
  BOOST_TEST(env.get("/v1/sys/health").status == 200);
  BOOST_TEST(!env.serve().wait_exit(10ms).has_value());  // still running
}

BOOST_AUTO_TEST_CASE(metrics_move_as_events_happen) {
  ServeEnv env;
  env.raw().exec("BEGIN");
  seed_ready_agent(env.raw(), "nu", 0, std::chrono::system_clock::now());
  env.raw().exec("COMMIT");
  const auto unix_now = [] {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  const double before_start = unix_now();
  env.start_serve(env.write_config());
  BOOST_TEST(env.get("/metrics").status == 401);  // api.metrics_auth defaults to true
  const HttpReply first = env.get("/metrics", env.api_token());
  BOOST_TEST(first.status == 200);
  BOOST_TEST(first.header("Content-Type").find("text/plain; version=0.0.4") == 0u);
  BOOST_TEST(first.body.find("policy_sidecar_build_info{version=") != std::string::npos);
  // The process_* metrics describe the daemon's process (btime is whole seconds: 2 s slack).
  const double started = env.metric("process_start_time_seconds").value_or(0);
  BOOST_TEST(started >= before_start - 2);
  BOOST_TEST(started <= unix_now() + 2);
  BOOST_TEST(env.metric("process_resident_memory_bytes").value_or(0) > 0);
  BOOST_TEST(env.metric("process_open_fds").value_or(0) > 0);
  BOOST_TEST(env.metric("process_max_fds").value_or(0) >= env.metric("process_open_fds").value_or(0));
  BOOST_TEST(env.metric("process_cpu_seconds_total").value_or(-1) >= 0);
  BOOST_TEST(!env.metric("policy_sidecar_promotions_total{source=\"webhook\",result=\"promoted\"}").has_value());
  BOOST_TEST(env.metric("policy_sidecar_agents{status=\"eligible\"}").value_or(-1) == 1);

  BOOST_REQUIRE(env.send_approval(approval_body("nu", 1, "anyone"), "msg_nu").status == 200);
  BOOST_TEST(env.send_approval(approval_body("nu", 1, "anyone"), "msg_nu_stale", -1000).status == 401);
  BOOST_TEST(*env.metric("policy_sidecar_promotions_total{source=\"webhook\",result=\"promoted\"}") == 1);
  BOOST_TEST(*env.metric("policy_sidecar_webhook_requests_total{status=\"200\"}") == 1);
  BOOST_TEST(*env.metric("policy_sidecar_webhook_requests_total{status=\"401\"}") == 1);
  BOOST_TEST(*env.metric("policy_sidecar_webhook_duration_seconds_count{outcome=\"decided\"}") == 1);
  BOOST_TEST(ServeEnv::eventually([&] {
    auto synced = env.metric("policy_sidecar_sync_results_total{result=\"synced\"}");
    return synced && *synced >= 1;
  }));
  BOOST_TEST(env.metric("policy_sidecar_vault_request_duration_seconds_count{operation=\"write_role\"}").value_or(0) >= 1);
  BOOST_TEST(env.metric("policy_sidecar_vault_token_valid").value_or(0) == 1);
  BOOST_TEST(env.metric("policy_sidecar_reconcile_duration_seconds_count{dry_run=\"false\"}").value_or(0) >= 1);

  // Drift: someone edits the role behind the sidecar's back; a reconcile finds it.
  BOOST_REQUIRE(ServeEnv::eventually([&] { return env.role_policies("agent-nu").has_value(); }));
  const double drift_before = env.metric("policy_sidecar_drift_found_total").value_or(0);
  BOOST_REQUIRE(env.set_role_policies("agent-nu", {"t4-observer"}) == 204);
  BOOST_TEST(env.post("/v1/reconcile", "", {{"Authorization", "Bearer " + env.api_token()}}).status == 200);
  BOOST_TEST(*env.metric("policy_sidecar_drift_found_total") == drift_before + 1);
  BOOST_TEST(read_text_file(env.file("audit.jsonl")).find("\"event\":\"drift.found\"") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_parked_push_is_audited_counted_and_degrades_health) {
  ServeEnv env;
  env.raw().exec("BEGIN");
  seed_ready_agent(env.raw(), "xi", 0, std::chrono::system_clock::now());
  env.raw().exec("COMMIT");
  // The role does not exist and the sidecar may not create it: the push is parked.
  env.start_serve(env.write_config({{"roles", {{"missing_role", "report"}}}}));
  BOOST_REQUIRE(env.send_approval(approval_body("xi", 1, "anyone"), "msg_xi").status == 200);
  BOOST_TEST(ServeEnv::eventually([&] {
    return env.metric("policy_sidecar_sync_results_total{result=\"parked\"}").value_or(0) == 1;
  }), env.serve_log());
  const std::string audit = read_text_file(env.file("audit.jsonl"));
  BOOST_TEST(audit.find("\"event\":\"sync.parked\"") != std::string::npos, audit);
  BOOST_TEST(audit.find("\"reason\":\"role_missing\"") != std::string::npos, audit);
  // Health answers from the background prober's last pass (every 2 s).
  HttpReply health;
  BOOST_TEST(ServeEnv::eventually([&] {
    health = env.get("/v1/sys/health", env.api_token());
    return health.status == 200 && health.json()["status"] == "degraded" &&
           health.json()["checks"]["outbox"]["status"] == "degraded";
  }), health.body);
  BOOST_TEST(health.json()["checks"]["outbox"]["reason"].get<std::string>().find("parked") != std::string::npos, health.body);
  const HttpReply sync = env.get("/v1/sync", env.api_token());
  BOOST_TEST(sync.json()["data"]["failed"] == 1);
  BOOST_TEST(sync.json()["data"]["failed_rows"][0]["error_code"] == "role_missing");
}

BOOST_AUTO_TEST_SUITE_END()
