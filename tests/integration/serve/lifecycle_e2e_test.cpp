// The daemon's lifecycle as operators see it: refusing bad configurations at start, SIGHUP
// reloads (a rotated listener certificate is served, a broken config is rejected), SIGTERM
// under load (no committed approval lost), systemd notifications, plain HTTP on loopback.
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <boost/test/unit_test.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <httplib.h>
#include <map>
#include <mutex>
#include <thread>

#include "tests/integration/serve/serve_harness.h"
#include "tls/dev_pki.h"

using namespace ps::testing;
using namespace ps::testing::serve;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// A rotated certificate: a new leaf from the dev CA, written next to the configured files and
// renamed over them (how certificates should be rotated).
void rotate_listener_certificate(ServeEnv& env, const std::string& cert, const std::string& key) {
  ps::tls::devpki::Pem ca{read_text_file(env.file("pki/ca.pem")), read_text_file(env.file("pki/ca-key.pem"))};
  ps::tls::devpki::LeafSpec spec;
  spec.common_name = "rotated";
  spec.dns_names = {"localhost"};
  spec.ip_addresses = {"127.0.0.1"};
  const auto leaf = ps::tls::devpki::make_leaf(ca, spec).value();
  write_file(cert + ".new", leaf.cert);
  write_file(key + ".new", leaf.key);
  ::chmod((key + ".new").c_str(), 0600);
  fs::rename(cert + ".new", cert);
  fs::rename(key + ".new", key);
}

class NotifySocket {
 public:
  NotifySocket() {
    name_ = "ps-notify-test-" + std::to_string(::getpid()) + "-" + std::to_string(::rand());
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path + 1, name_.data(), name_.size());  // abstract: leading NUL
    const socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name_.size());
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0) throw std::runtime_error("bind");
    timeval tv{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~NotifySocket() { ::close(fd_); }
  std::string env() const { return "NOTIFY_SOCKET=@" + name_; }
  std::string receive() {
    char buf[4096];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "";
  }

 private:
  std::string name_;
  int fd_ = -1;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(serve_lifecycle_e2e)

BOOST_AUTO_TEST_CASE(bad_configurations_are_refused_at_start_with_the_reason) {
  ServeEnv env(false);
  std::string err;
  BOOST_TEST(env.start_serve_expect_failure(env.write_config({{"listener", {{"adress", "x"}}}}), err) == 78);  // EX_CONFIG
  BOOST_TEST(err.find("config: listener.adress: unknown key") != std::string::npos, err);
  BOOST_TEST(env.start_serve_expect_failure(env.write_config({{"webhook", {{"tolerance_s", "5m"}}}}), err) == 78);  // EX_CONFIG
  BOOST_TEST(err.find("config: webhook.tolerance_s: must be an integer") != std::string::npos, err);
  BOOST_TEST(env.start_serve_expect_failure(
                 env.write_config({{"listener", {{"address", "0.0.0.0:0"}, {"tls_disable", true}}}}), err) == 78);  // EX_CONFIG
  BOOST_TEST(err.find("plain HTTP is allowed only on a loopback address") != std::string::npos, err);
  BOOST_TEST(env.start_serve_expect_failure(
                 env.write_config({{"listener", {{"tls_cert", env.file("missing.pem")}}}}), err) == 78);  // EX_CONFIG
  BOOST_TEST(err.find("listener TLS") != std::string::npos, err);

  // Secret files readable by group or others, as ssh refuses keys; the secret is not shown.
  ::chmod(env.file("secrets").c_str(), 0644);
  BOOST_TEST(env.start_serve_expect_failure(env.write_config(), err) == 78);  // EX_CONFIG
  BOOST_TEST(err.find("webhook.secrets_file") != std::string::npos, err);
  BOOST_TEST(err.find("too open") != std::string::npos, err);
  BOOST_TEST(err.find(env.secret().substr(6, 12)) == std::string::npos);
  ::chmod(env.file("secrets").c_str(), 0600);
  ::chmod(env.file("api-token").c_str(), 0640);
  BOOST_TEST(env.start_serve_expect_failure(env.write_config(), err) == 78);  // EX_CONFIG
  BOOST_TEST(err.find("api.token_file") != std::string::npos, err);
  ::chmod(env.file("api-token").c_str(), 0600);
  write_file(env.file("vault-token"), "s.vaulttokenvalue\n");
  ::chmod(env.file("vault-token").c_str(), 0644);
  BOOST_TEST(env.start_serve_expect_failure(
                 env.write_config({{"vault", {{"auth", {{"method", "token_file"}, {"token_file", env.file("vault-token")}}}}}}),
                 err, {"VAULT_TOKEN="}) == 78);  // EX_CONFIG
  BOOST_TEST(err.find("vault-token") != std::string::npos, err);
  BOOST_TEST(err.find("vaulttokenvalue") == std::string::npos);

  // A port in use and a missing ledger stop the start (exit 1), saying why.
  const int busy = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  BOOST_REQUIRE(::bind(busy, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  ::listen(busy, 1);
  socklen_t alen = sizeof a;
  ::getsockname(busy, reinterpret_cast<sockaddr*>(&a), &alen);
  const std::string taken = "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
  BOOST_TEST(env.start_serve_expect_failure(env.write_config({{"listener", {{"address", taken}}}}), err) == 1);
  BOOST_TEST(err.find("cannot listen on " + taken) != std::string::npos, err);
  ::close(busy);
  BOOST_TEST(env.start_serve_expect_failure(env.write_config({{"ledger", {{"path", env.file("nope.db")}}}}), err) == 1);
  BOOST_TEST(err.find("nope.db") != std::string::npos, err);
}

BOOST_AUTO_TEST_CASE(plain_http_is_served_only_when_asked_for_on_loopback) {
  ServeEnv env;
  env.start_serve(env.write_config({{"listener", {{"tls_disable", true}, {"address", "127.0.0.1:0"}}}}));
  httplib::Client cli("127.0.0.1", env.port());
  auto r = cli.Get("/v1/sys/health");
  BOOST_REQUIRE(r);
  BOOST_TEST(r->status == 200);
  BOOST_TEST(nlohmann::json::parse(r->body)["checks"]["ledger"]["status"] == "ok");
}

BOOST_AUTO_TEST_CASE(with_a_client_ca_only_clients_with_its_certificates_get_an_answer) {
  ServeEnv env;
  env.start_serve(env.write_config({{"listener", {{"tls_client_ca", env.file("pki/ca.pem")}}}}));
  BOOST_TEST(env.get("/v1/sys/health").status == 0);  // handshake refused: no certificate
  auto with_cert = [&](const std::string& cert, const std::string& key) {
    httplib::SSLClient cli("127.0.0.1", env.port(), cert, key);
    cli.set_ca_cert_path(env.ca().c_str());
    cli.enable_server_certificate_verification(true);
    auto r = cli.Get("/v1/sys/health");
    return r ? r->status : 0;
  };
  BOOST_TEST(with_cert(env.file("pki/client.pem"), env.file("pki/client-key.pem")) == 200);
  BOOST_TEST(with_cert(env.file("pki/other-client.pem"), env.file("pki/other-client-key.pem")) == 0);
}

BOOST_AUTO_TEST_CASE(sighup_serves_a_rotated_certificate_and_rejects_a_broken_config) {
  ServeEnv env;
  const std::string cert = env.file("listener.pem"), key = env.file("listener-key.pem");
  fs::copy_file(env.file("pki/server.pem"), cert);
  fs::copy_file(env.file("pki/server-key.pem"), key);
  const std::string config = env.write_config({{"listener", {{"tls_cert", cert}, {"tls_key", key}}}});
  env.start_serve(config);
  const std::string before = env.served_certificate_fingerprint();
  BOOST_REQUIRE(!before.empty());

  rotate_listener_certificate(env, cert, key);
  BOOST_TEST(env.served_certificate_fingerprint() == before);  // nothing changes without SIGHUP
  env.serve().signal(SIGHUP);
  std::string after;
  BOOST_TEST(ServeEnv::eventually([&] {
    after = env.served_certificate_fingerprint();
    return !after.empty() && after != before;
  }), env.serve_log());
  BOOST_TEST(env.get("/v1/sys/health").status == 200);  // still verifies against the same CA

  // A broken config is rejected with the reason; the running one (and its certificate) stays.
  const std::string good = read_text_file(config);
  write_file(config, "{\"listener\": {\"max_request_bytes\": \"big\"}}");
  env.serve().signal(SIGHUP);
  BOOST_TEST(ServeEnv::eventually([&] {
    return env.serve_log().find("reload.rejected") != std::string::npos;
  }));
  BOOST_TEST(env.serve_log().find("config: listener.max_request_bytes") != std::string::npos);
  BOOST_TEST(env.served_certificate_fingerprint() == after);
  BOOST_TEST(*env.metric("policy_sidecar_reloads_total{result=\"rejected\"}") == 1);
  // A secrets file made world-readable is refused the same way.
  write_file(config, good);
  ::chmod(env.file("secrets").c_str(), 0604);
  env.serve().signal(SIGHUP);
  BOOST_TEST(ServeEnv::eventually([&] { return *env.metric("policy_sidecar_reloads_total{result=\"rejected\"}") == 2; }));
  ::chmod(env.file("secrets").c_str(), 0600);
  BOOST_TEST(env.send_approval(approval_body("nobody", 1, "a"), "msg_after_reload").status == 409);
  BOOST_TEST(env.stop_serve() == 0);
}

BOOST_AUTO_TEST_CASE(sighup_applies_new_approvers_rules_and_secrets) {
  ServeEnv env;
  env.raw().exec("BEGIN");
  seed_ready_agent(env.raw(), "theta", 2, std::chrono::system_clock::now());
  seed_ready_agent(env.raw(), "iota", 0, std::chrono::system_clock::now());
  env.raw().exec("COMMIT");
  const std::string config = env.write_config();
  env.start_serve(config);
  BOOST_TEST(env.send_approval(approval_body("theta", 3, "newbie"), "msg_theta_1").status == 403);
  // New reviewer, a rotated webhook secret (old and new both active), T0 needs review now.
  const std::string new_secret = make_secret("rotated-webhook-key-0123456789ab");
  write_file(env.file("secrets"), env.secret() + "\n" + new_secret + "\n");
  const std::string text = read_text_file(config);
  auto j = nlohmann::json::parse(text);
  j["webhook"]["reviewers"] = {"rev", "newbie"};
  j["rules"] = {{"0", {{"requires_manual_review", true}}}};
  write_file(config, j.dump());
  env.serve().signal(SIGHUP);
  BOOST_REQUIRE(ServeEnv::eventually([&] { return *env.metric("policy_sidecar_reloads_total{result=\"ok\"}") == 1; }));
  BOOST_TEST(env.send_approval(approval_body("theta", 3, "newbie"), "msg_theta_2", 0, new_secret).status == 200);
  BOOST_TEST(env.send_approval(approval_body("iota", 1, "outsider"), "msg_iota").status == 403);
}

BOOST_AUTO_TEST_CASE(sigterm_under_load_loses_no_committed_approval) {
  ServeEnv env;
  constexpr int kAgents = 400;
  env.raw().exec("BEGIN");
  for (int i = 0; i < kAgents; ++i) {
    seed_ready_agent(env.raw(), "load-" + std::to_string(i), 0, std::chrono::system_clock::now());
  }
  env.raw().exec("COMMIT");
  // In WAL mode (ledger.journal_mode), as a busy daemon would run.
  const std::string config =
      env.write_config({{"shutdown", {{"grace_s", 10}}}, {"ledger", {{"journal_mode", "wal"}}}});
  env.start_serve(config);
  BOOST_TEST(RawLedger(env.db()).text("PRAGMA journal_mode") == "wal");

  std::mutex mu;
  std::map<std::string, HttpReply> answers;  // agent -> reply
  std::atomic<int> next{0};
  std::atomic<int> answered{0};
  std::vector<std::thread> senders;
  for (int t = 0; t < 8; ++t) {
    senders.emplace_back([&] {
      for (;;) {
        const int i = next++;
        if (i >= kAgents) return;
        const std::string agent = "load-" + std::to_string(i);
        HttpReply r = env.send_approval(approval_body(agent, 1, "loadtest"), "msg_load_" + std::to_string(i));
        ++answered;
        std::lock_guard<std::mutex> lock(mu);
        answers[agent] = r;
        if (r.status == 0) return;  // the daemon stopped accepting
      }
    });
  }
  BOOST_REQUIRE(ServeEnv::eventually([&] { return answered.load() >= 40; }));
  env.serve().signal(SIGTERM);
  const auto status = env.serve().wait_exit(20s);
  for (auto& t : senders) t.join();
  BOOST_REQUIRE_MESSAGE(status.has_value(), "serve did not exit after SIGTERM");
  BOOST_TEST(*status == 0, env.serve_log());

  int ok = 0;
  std::string promoted;  // one agent whose approval was answered 200
  for (const auto& [agent, r] : answers) {
    if (r.status == 200) {
      ++ok;
      if (promoted.empty()) promoted = agent;
      const auto id = r.json()["data"]["promotion_id"].get<std::int64_t>();
      BOOST_TEST(env.raw().text("SELECT agent_id FROM promotions WHERE id = " + std::to_string(id)) == agent);
      BOOST_TEST(env.raw().integer("SELECT count(*) FROM sidecar_outbox WHERE agent_id = " + q(agent)) == 1);
    } else {
      BOOST_TEST(r.status == 0, agent << " got " << r.status << " " << r.body);
    }
  }
  BOOST_TEST(ok >= 40);
  // Every promotion has its delivery record (one transaction), and nothing else was promoted.
  BOOST_TEST(env.raw().integer("SELECT count(*) FROM promotions") ==
             env.raw().integer("SELECT count(*) FROM sidecar_webhook_deliveries"));
  BOOST_TEST(env.raw().integer("SELECT count(*) FROM promotions") >= ok);
  BOOST_TEST(env.serve_log().find("shutdown.done") != std::string::npos);

  // Whatever was still pending is pushed by the next start.
  env.start_serve(config);
  BOOST_TEST(ServeEnv::eventually([&] {
    return env.raw().integer("SELECT count(*) FROM sidecar_outbox WHERE state <> 'synced'") == 0;
  }, 60s));
  // (Not necessarily load-0: a sender whose connection the shutdown closed got no answer.)
  BOOST_REQUIRE(!promoted.empty());
  const auto policies = env.role_policies("agent-" + promoted);
  BOOST_REQUIRE(policies.has_value());
  BOOST_TEST(*policies == std::vector<std::string>{"t1-observer"});
}

BOOST_AUTO_TEST_CASE(systemd_hears_ready_reloading_and_stopping) {
  ServeEnv env;
  NotifySocket notify;
  env.start_serve(env.write_config(), {notify.env()});
  const std::string ready = notify.receive();
  BOOST_TEST(ready.find("READY=1") == 0u, ready);
  BOOST_TEST(ready.find("MAINPID=" + std::to_string(env.serve().pid())) != std::string::npos, ready);
  env.serve().signal(SIGHUP);
  const std::string reloading = notify.receive();
  BOOST_TEST(reloading.find("RELOADING=1") == 0u, reloading);
  BOOST_TEST(reloading.find("MONOTONIC_USEC=") != std::string::npos);
  BOOST_TEST(notify.receive().find("READY=1") == 0u);
  env.serve().signal(SIGTERM);
  BOOST_TEST(notify.receive().find("STOPPING=1") == 0u);
  BOOST_TEST(env.serve().wait_exit(20s).value_or(-1) == 0);
}

BOOST_AUTO_TEST_SUITE_END()
