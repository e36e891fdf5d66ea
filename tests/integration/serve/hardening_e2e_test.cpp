// Security hardening of a running `serve`: forged webhooks are counted
// and throttled per address, never audited; secrets hygiene: VAULT_TOKEN gone from the
// process's environment block (while the daemon keeps using the token, also after SIGHUP),
// core dumps off (RLIMIT_CORE 0/0 in /proc/<pid>/limits), and secret/key files that are a FIFO,
// a symbolic link or open to others refused at start with the file named.
#include <sys/stat.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include "engine/rules/timestamp.h"
#include "tests/integration/serve/serve_harness.h"

using namespace ps::testing;
using namespace ps::testing::serve;
using namespace std::chrono_literals;

namespace {

std::string read_proc(pid_t pid, const char* what) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/" + what, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// "Max core file size  <soft>  <hard>  bytes" -> {soft, hard}.
std::pair<std::string, std::string> core_limits(pid_t pid) {
  std::istringstream limits(read_proc(pid, "limits"));
  for (std::string line; std::getline(limits, line);) {
    if (line.rfind("Max core file size", 0) != 0) continue;
    std::istringstream fields(line.substr(std::string("Max core file size").size()));
    std::string soft, hard;
    fields >> soft >> hard;
    return {soft, hard};
  }
  return {};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(serve_hardening_e2e)

BOOST_AUTO_TEST_CASE(vault_token_leaves_the_environment_and_core_dumps_are_off) {
  ServeEnv env;
  env.raw().exec("BEGIN");
  seed_ready_agent(env.raw(), "omega", 0, std::chrono::system_clock::now());
  env.raw().exec("COMMIT");
  env.start_serve(env.write_config(), {"VAULT_TOKEN=root", "PS_HARDENING_MARKER=visible"});
  const pid_t pid = env.serve().pid();

  const std::string environ_block = read_proc(pid, "environ");
  BOOST_REQUIRE(environ_block.find("PS_HARDENING_MARKER=visible") != std::string::npos);
  BOOST_TEST(environ_block.find("VAULT_TOKEN") == std::string::npos);
  const auto [soft, hard] = core_limits(pid);
  BOOST_TEST(soft == "0");
  BOOST_TEST(hard == "0");

  // The daemon still holds the token: after a reload an approval reaches Vault.
  const std::string reloads = "policy_sidecar_reloads_total{result=\"ok\"}";
  env.serve().signal(SIGHUP);
  BOOST_REQUIRE_MESSAGE(
      ServeEnv::eventually([&] { return env.metric(reloads).value_or(0) == 1; }),
      env.serve_log());
  BOOST_TEST(env.send_approval(approval_body("omega", 1, "anyone"), "msg_omega").status == 200);
  BOOST_TEST(ServeEnv::eventually([&] {
    auto p = env.role_policies("agent-omega");
    return p && *p == std::vector<std::string>{"t1-observer"};
  }, 30s), env.serve_log());
  BOOST_TEST(read_proc(pid, "environ").find("VAULT_TOKEN") == std::string::npos);
  BOOST_TEST(env.stop_serve() == 0);
}

BOOST_AUTO_TEST_CASE(a_fifo_secrets_file_fails_start_at_once_naming_the_file) {
  ServeEnv env(false);
  const std::string fifo = env.file("fifo-secrets");
  BOOST_REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  std::string err;
  // Without O_NONBLOCK the daemon would wait for a writer forever (the harness gives up).
  const int status = env.start_serve_expect_failure(
      env.write_config({{"webhook", {{"secrets_file", fifo}}}}), err);
  BOOST_TEST(status != 0);
  BOOST_TEST(err.find(fifo) != std::string::npos, err);
  BOOST_TEST(err.find("not a regular file") != std::string::npos, err);
}

BOOST_AUTO_TEST_CASE(a_symlinked_token_file_or_an_open_listener_key_fails_start) {
  ServeEnv env(false);
  const std::string link = env.file("api-token-link");
  BOOST_REQUIRE(::symlink(env.file("api-token").c_str(), link.c_str()) == 0);
  std::string err;
  BOOST_TEST(env.start_serve_expect_failure(
                 env.write_config({{"api", {{"token_file", link}}}}), err) != 0);
  BOOST_TEST(err.find("symbolic link") != std::string::npos, err);
  BOOST_TEST(err.find(env.api_token()) == std::string::npos);

  const std::string key = env.file("listener-key.pem");
  std::filesystem::copy_file(env.file("pki/server-key.pem"), key);
  ::chmod(key.c_str(), 0644);
  BOOST_TEST(env.start_serve_expect_failure(
                 env.write_config({{"listener", {{"tls_key", key}}}}), err) != 0);
  BOOST_TEST(err.find(key) != std::string::npos, err);
  BOOST_TEST(err.find("too open") != std::string::npos, err);
  BOOST_TEST(err.find("BEGIN") == std::string::npos);
}

namespace {

HttpReply forged(ServeEnv& env, int i) {
  return env.post("/v1/webhooks/approval", approval_body("nobody", 1, "mallory"),
                  {{"webhook-id", "msg_forged_" + std::to_string(i)},
                   {"webhook-timestamp", std::to_string(unix_now())},
                   {"webhook-signature", "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}});
}

std::size_t occurrences(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
  return n;
}

}  // namespace

BOOST_AUTO_TEST_CASE(forged_webhooks_are_counted_and_logged_once_never_audited) {
  ServeEnv env(false);
  env.start_serve(env.write_config());  // the defaults: a burst of 20 per address
  const std::string audit_before = read_text_file(env.file("audit.jsonl"));
  for (int i = 0; i < 10; ++i) BOOST_TEST(forged(env, i).status == 401);
  BOOST_TEST(read_text_file(env.file("audit.jsonl")) == audit_before);
  BOOST_TEST(env.metric("policy_sidecar_webhook_rejections_total{reason=\"signature\"}").value_or(0) == 10);
  BOOST_TEST(occurrences(env.serve_log(), "\"event\":\"webhook.rejected\"") == 1u);
  BOOST_TEST(env.stop_serve() == 0);
}

BOOST_AUTO_TEST_CASE(forged_webhooks_beyond_the_address_budget_get_429) {
  ServeEnv env(false);
  env.start_serve(env.write_config(
      {{"webhook", {{"unauthenticated_burst", 5}, {"unauthenticated_per_s", 1}}}}));
  const std::string audit_before = read_text_file(env.file("audit.jsonl"));
  std::vector<int> statuses;
  std::optional<HttpReply> first_429;
  for (int i = 0; i < 30; ++i) {
    HttpReply r = forged(env, i);
    statuses.push_back(r.status);
    if (r.status == 429 && !first_429) first_429 = r;
  }
  // The listener fills in the peer (127.0.0.1): its budget of 5 is spent, then 429. The
  // bucket regains a token per second, so a slow machine may see a few more 401s (never
  // fewer than 5), but 30 requests cannot all find a token.
  const auto unauthorized = std::count(statuses.begin(), statuses.end(), 401);
  const auto throttled = std::count(statuses.begin(), statuses.end(), 429);
  BOOST_TEST(unauthorized + throttled == 30);
  BOOST_TEST(unauthorized >= 5);
  BOOST_TEST(throttled >= 1);
  BOOST_TEST(std::vector<int>(statuses.begin(), statuses.begin() + 5) == std::vector<int>(5, 401));
  BOOST_REQUIRE(first_429.has_value());
  BOOST_TEST(first_429->header("Retry-After") == "1");
  BOOST_TEST(read_text_file(env.file("audit.jsonl")) == audit_before);
  BOOST_TEST(env.metric("policy_sidecar_webhook_rejections_total{reason=\"signature\"}").value_or(0) +
                 env.metric("policy_sidecar_webhook_rejections_total{reason=\"rate_limited\"}").value_or(0) ==
             30);
  BOOST_TEST(env.stop_serve() == 0);
}

BOOST_AUTO_TEST_CASE(the_reserved_auto_approver_is_refused_by_the_webhook_and_the_cli) {
  ServeEnv env(false);
  env.raw().exec("BEGIN");
  seed_ready_agent(env.raw(), "sigma", 0, std::chrono::system_clock::now());
  env.raw().exec("COMMIT");
  env.start_serve(env.write_config());
  const HttpReply r =
      env.send_approval(approval_body("sigma", 1, "policy-sidecar:auto"), "msg_reserved");
  BOOST_TEST(r.status == 400, r.body);
  BOOST_TEST(r.body.find("reserved") != std::string::npos, r.body);
  BOOST_TEST(env.stop_serve() == 0);
  BOOST_TEST(env.raw().integer("SELECT count(*) FROM promotions") == 0);

  ChildProcess cli({build_dir() + "/sidecar/policy-sidecar", "--db", env.db(), "promote", "sigma", "--approved-by",
                    "policy-sidecar:auto"},
                   {}, env.file("cli.err"));
  BOOST_TEST((cli.wait_exit(30s) == std::optional<int>(64)));
  BOOST_TEST(read_text_file(env.file("cli.err")).find("reserved") != std::string::npos);
  BOOST_TEST(env.raw().integer("SELECT count(*) FROM promotions") == 0);
}

BOOST_AUTO_TEST_CASE(the_daemon_prunes_old_records_and_keeps_recent_ones) {
  ServeEnv env(false);
  env.start_serve(env.write_config({{"retention", {{"interval_s", 1}, {"drift_days", 30}}}}));
  const auto now = std::chrono::system_clock::now();
  auto drift = [&](std::chrono::hours age, const std::string& agent) {
    env.raw().exec("INSERT INTO sidecar_drift (found_at, agent_id, role, kind, expected, mode, "
                   "action) VALUES (" + q(ps::engine::format_isoformat_utc(now - age)) + ", " +
                   q(agent) + ", 'r', 'policies', '[]', 'detect', 'reported')");
  };
  drift(std::chrono::hours(24 * 400), "old");
  drift(std::chrono::hours(1), "recent");
  BOOST_TEST(ServeEnv::eventually([&] {
    return env.raw().integer("SELECT count(*) FROM sidecar_drift WHERE agent_id = 'old'") == 0;
  }), env.serve_log());
  BOOST_TEST(env.raw().integer("SELECT count(*) FROM sidecar_drift WHERE agent_id = 'recent'") == 1);
  BOOST_TEST(env.metric("policy_sidecar_retention_deleted_total{table=\"drift\"}").value_or(0) == 1);
  BOOST_TEST(env.stop_serve() == 0);
}

BOOST_AUTO_TEST_SUITE_END()
