// The real vault-emulator executable over TLS on 127.0.0.1 port 0.
#include <httplib.h>

#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <fstream>
#include <thread>

#include "tests/support/emulator_process.h"
#include "tests/support/files.h"
#include "tests/support/poll.h"
#include "tls/dev_pki.h"
#include "tls/tls.h"


using ps::testing::EmulatorProcess;
using ps::testing::TempDir;
using ps::testing::read_text_file;
using nlohmann::json;

namespace {

const std::string kRoot = "integration-root-token";
const std::string kAdmin = "integration-admin-token";

struct Fixture {
  TempDir dir;
  Fixture() {
    signal(SIGPIPE, SIG_IGN);  // the server may close while a client still writes
    ps::Status written = ps::tls::devpki::write_dev_set(dir.file("pki"));
    if (!written.ok()) throw std::runtime_error(written.message());
  }

  std::vector<std::string> args(std::vector<std::string> extra = {}) const {
    std::vector<std::string> a = {"--listen", "127.0.0.1:0",
                                  "--tls-cert", dir.file("pki/server.pem"),
                                  "--tls-key", dir.file("pki/server-key.pem"),
                                  "--dev", "--dev-root-token", kRoot,
                                  "--admin-token", kAdmin,
                                  "--request-log", dir.file("requests.log")};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  std::unique_ptr<httplib::SSLClient> client(int port, const std::string& cert = "",
                                             const std::string& key = "") const {
    ps::tls::ClientConfig c;
    c.ca_file = dir.file("pki/ca.pem");
    c.cert_file = cert;
    c.key_file = key;
    auto tls = ps::tls::ClientTls::create(c, nullptr);
    BOOST_REQUIRE_MESSAGE(tls.ok(), tls.status().message());
    auto cli = (*tls)->make_client("127.0.0.1", port);
    cli->set_keep_alive(true);
    cli->set_read_timeout(10, 0);
    return cli;
  }
};

httplib::Headers root_headers() { return {{"X-Vault-Token", kRoot}}; }

httplib::Result list(httplib::SSLClient& cli, const std::string& path) {
  httplib::Request req;
  req.method = "LIST";
  req.path = path;
  req.headers = root_headers();
  return cli.send(req);
}

bool wait_for_log(const std::string& file, const std::string& needle) {
  for (int i = 0; i < 200; ++i) {
    if (read_text_file(file).find(needle) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  return false;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(emulator_process)

BOOST_AUTO_TEST_CASE(prints_one_vault_addr_line_and_serves_vault_over_tls) {
  Fixture f;
  EmulatorProcess emu(f.args(), f.dir.file("stderr"));
  BOOST_REQUIRE(emu.address().rfind("https://127.0.0.1:", 0) == 0u);
  BOOST_TEST(emu.port() > 0);
  auto cli = f.client(emu.port());
  auto h = cli->Get("/v1/sys/health");
  BOOST_REQUIRE(h);
  BOOST_TEST(h->status == 200);
  BOOST_TEST(json::parse(h->body)["initialized"] == true);
  BOOST_TEST(h->get_header_value("Cache-Control") == "no-store");
  BOOST_TEST(emu.stop() == 0);
  BOOST_TEST(emu.rest_of_stdout().empty());
  BOOST_TEST(read_text_file(f.dir.file("stderr")).find(kRoot) == std::string::npos);
}

BOOST_AUTO_TEST_CASE(accepts_the_list_verb_and_keeps_one_connection_alive) {
  Fixture f;
  EmulatorProcess emu(f.args(), f.dir.file("stderr"));
  auto cli = f.client(emu.port());
  for (int i = 0; i < 20; ++i) {
    auto w = cli->Post("/v1/auth/approle/role/agent-" + std::to_string(i), root_headers(),
                       R"({"token_policies":"t0"})", "application/json");
    BOOST_REQUIRE(w);
    BOOST_TEST(w->status == 204);
  }
  auto l = list(*cli, "/v1/auth/approle/role");
  BOOST_REQUIRE(l);
  BOOST_TEST(l->status == 200);
  BOOST_TEST(json::parse(l->body)["data"]["keys"].size() == 20u);
  auto g = cli->Get("/v1/auth/approle/role?list=true", root_headers());
  BOOST_REQUIRE(g);
  BOOST_TEST(json::parse(g->body)["data"]["keys"] == json::parse(l->body)["data"]["keys"]);
  auto p = cli->Get("/v1/auth/approle/role/agent-3/policies", root_headers());
  BOOST_TEST(json::parse(p->body)["data"]["token_policies"] == json({"t0"}));
}

BOOST_AUTO_TEST_CASE(a_drop_fault_closes_the_connection_and_the_next_request_works) {
  Fixture f;
  EmulatorProcess emu(f.args(), f.dir.file("stderr"));
  auto cli = f.client(emu.port());
  auto admin = f.client(emu.port());
  auto set = admin->Post("/_emulator/faults", {{"X-Emulator-Admin-Token", kAdmin}},
                         R"({"kind":"drop","count":1,"match":"sys/health"})", "application/json");
  BOOST_REQUIRE(set);
  BOOST_TEST(set->status == 204);
  auto dropped = cli->Get("/v1/sys/health");
  BOOST_TEST(!dropped);
  auto again = cli->Get("/v1/sys/health");
  BOOST_REQUIRE(again);
  BOOST_TEST(again->status == 200);
  BOOST_TEST(wait_for_log(f.dir.file("requests.log"), "\"status\":0"));
}

BOOST_AUTO_TEST_CASE(a_hang_fault_answers_late_or_closes_when_the_client_gives_up) {
  Fixture f;
  EmulatorProcess emu(f.args(), f.dir.file("stderr"));
  auto admin = f.client(emu.port());
  httplib::Headers ah = {{"X-Emulator-Admin-Token", kAdmin}};
  admin->Post("/_emulator/faults", ah, R"({"kind":"hang","hang_ms":200,"match":"/v1/sys/leader"})",
              "application/json");
  auto cli = f.client(emu.port());
  auto late = cli->Get("/v1/sys/leader");
  BOOST_REQUIRE(late);
  BOOST_TEST(late->status == 200);
  admin->Post("/_emulator/faults", ah, R"({"kind":"hang","hang_ms":60000,"match":"/v1/sys/leader"})",
              "application/json");
  auto impatient = f.client(emu.port());
  impatient->set_read_timeout(0, 300000);
  BOOST_TEST(!impatient->Get("/v1/sys/leader"));
  impatient->stop();
  BOOST_TEST(wait_for_log(f.dir.file("requests.log"), "\"path\":\"/v1/sys/leader\",\"query\":\"\",\"status\":0"));
  auto stats = admin->Get("/_emulator/stats", ah);
  BOOST_REQUIRE(stats);
  BOOST_TEST(json::parse(stats->body)["by_status"]["200"].get<int>() >= 1);
}

BOOST_AUTO_TEST_CASE(stats_number_every_request_and_settle_it_after_its_log_line) {
  Fixture f;
  EmulatorProcess emu(f.args(), f.dir.file("stderr"));
  auto cli = f.client(emu.port());
  httplib::Headers ah = {{"X-Emulator-Admin-Token", kAdmin}};
  for (int i = 0; i < 5; ++i) BOOST_REQUIRE(cli->Get("/v1/sys/health"));
  BOOST_REQUIRE(cli->Get("/_emulator/nothing", ah));  // admin calls are numbered too
  auto stats = [&] { return json::parse(cli->Get("/_emulator/stats", ah)->body); };
  const json first = stats();
  BOOST_TEST(first["received"] == 7);           // the six before and this one
  BOOST_TEST(first["settled"].get<int>() <= 6);  // this one is being answered
  int settled = first["settled"].get<int>();
  for (int i = 0; i < 2000 && settled < 6; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    settled = stats()["settled"].get<int>();
  }
  BOOST_REQUIRE(settled >= 6);
  // Settled means logged: the six lines are there, without waiting.
  std::istringstream lines(read_text_file(f.dir.file("requests.log")));
  std::string line;
  int health = 0, nothing = 0;
  while (std::getline(lines, line)) {
    const std::string path = json::parse(line)["path"];
    health += path == "/v1/sys/health";
    nothing += path == "/_emulator/nothing";
  }
  BOOST_TEST(health == 5);
  BOOST_TEST(nothing == 1);
}

BOOST_AUTO_TEST_CASE(status_faults_send_retry_after_and_rate_limit_headers) {
  Fixture f;
  EmulatorProcess emu(f.args(), f.dir.file("stderr"));
  auto cli = f.client(emu.port());
  httplib::Headers ah = {{"X-Emulator-Admin-Token", kAdmin}};
  cli->Post("/_emulator/rate-limit-headers", ah, R"({"enabled":true})", "application/json");
  cli->Post("/_emulator/faults", ah, R"({"kind":"status","status":429,"retry_after":7})", "application/json");
  auto r = cli->Get("/v1/auth/token/lookup-self", root_headers());
  BOOST_REQUIRE(r);
  BOOST_TEST(r->status == 429);
  BOOST_TEST(r->get_header_value("Retry-After") == "7");
  BOOST_TEST(r->get_header_value("X-RateLimit-Remaining") == "0");
  BOOST_TEST(cli->Get("/v1/auth/token/lookup-self", root_headers())->status == 200);
}

BOOST_AUTO_TEST_CASE(an_oversized_body_gets_413) {
  Fixture f;
  EmulatorProcess emu(f.args(), f.dir.file("stderr"));
  auto cli = f.client(emu.port());
  std::string big(33u * 1024 * 1024, 'x');
  auto r = cli->Post("/v1/auth/approle/role/big", root_headers(), big, "application/json");
  BOOST_REQUIRE(r);
  BOOST_TEST(r->status == 413);
  BOOST_TEST(json::parse(r->body)["errors"][0] == "failed to parse JSON input: http: request body too large");
}

BOOST_AUTO_TEST_CASE(state_survives_sigterm_and_restart) {
  Fixture f;
  std::string state = f.dir.file("state.json");
  {
    EmulatorProcess emu(f.args({"--state", state}), f.dir.file("stderr"));
    auto cli = f.client(emu.port());
    BOOST_TEST(cli->Post("/v1/auth/approle/role/keeper", root_headers(), R"({"token_policies":"kept"})",
                         "application/json")->status == 204);
    BOOST_TEST(cli->Post("/v1/sys/policies/acl/kept", root_headers(),
                         R"({"policy":"path \"x\" { capabilities = [\"read\"] }"})", "application/json")->status == 204);
    BOOST_TEST(emu.stop(SIGTERM) == 0);
  }
  BOOST_TEST(std::filesystem::exists(state));
  EmulatorProcess again(f.args({"--state", state}), f.dir.file("stderr"));
  auto cli = f.client(again.port());
  auto r = cli->Get("/v1/auth/approle/role/keeper", root_headers());
  BOOST_REQUIRE(r);
  BOOST_TEST(r->status == 200);
  BOOST_TEST(json::parse(r->body)["data"]["token_policies"] == json({"kept"}));
  BOOST_TEST(cli->Get("/v1/sys/policies/acl/kept", root_headers())->status == 200);
  BOOST_TEST(again.stop(SIGINT) == 0);
}

BOOST_AUTO_TEST_CASE(the_request_log_has_a_line_per_request_and_no_secret) {
  Fixture f;
  std::string secret, client_token;
  {
    EmulatorProcess emu(f.args(), f.dir.file("stderr"));
    auto cli = f.client(emu.port());
    cli->Post("/v1/auth/approle/role/agent-1", root_headers(), "{}", "application/json");
    std::string role_id = json::parse(cli->Get("/v1/auth/approle/role/agent-1/role-id", root_headers())->body)["data"]["role_id"];
    secret = json::parse(cli->Post("/v1/auth/approle/role/agent-1/secret-id", root_headers(), "{}",
                                   "application/json")->body)["data"]["secret_id"];
    auto login = cli->Post("/v1/auth/approle/login", json({{"role_id", role_id}, {"secret_id", secret}}).dump(),
                           "application/json");
    client_token = json::parse(login->body)["auth"]["client_token"];
    cli->Get("/v1/auth/token/lookup-self", {{"X-Vault-Token", client_token}});
    cli->Get("/v1/auth/token/lookup?token=" + client_token, root_headers());
    cli->Get("/_emulator/stats", {{"X-Emulator-Admin-Token", kAdmin}});
    emu.stop();
  }
  std::string log = read_text_file(f.dir.file("requests.log"));
  std::istringstream lines(log);
  std::string line;
  int count = 0;
  while (std::getline(lines, line)) {
    json j = json::parse(line);
    for (const char* k : {"ts", "method", "path", "query", "status"}) BOOST_TEST(j.contains(k), k);
    ++count;
  }
  BOOST_TEST(count == 7);
  BOOST_TEST(log.find("\"path\":\"/_emulator/stats\"") != std::string::npos);
  for (const std::string& s : {kRoot, kAdmin, secret, client_token}) {
    BOOST_TEST(log.find(s) == std::string::npos, "secret found in the request log");
  }
}

BOOST_AUTO_TEST_CASE(the_admin_api_is_absent_without_its_flag) {
  Fixture f;
  EmulatorProcess emu({"--listen", "127.0.0.1:0", "--tls-cert", f.dir.file("pki/server.pem"),
                       "--tls-key", f.dir.file("pki/server-key.pem"), "--dev"},
                      f.dir.file("stderr"));
  auto cli = f.client(emu.port());
  auto r = cli->Post("/_emulator/seal", {{"X-Emulator-Admin-Token", ""}}, "", "application/json");
  BOOST_REQUIRE(r);
  BOOST_TEST(r->status == 404);
  BOOST_TEST(cli->Get("/v1/auth/token/lookup-self", {{"X-Vault-Token", "root"}})->status == 200);
}

// The latency model waits outside the core's locks: while a write waits for its commit, reads
// on other connections are answered (ordering, not timing: the write has not returned yet).
BOOST_AUTO_TEST_CASE(a_write_waiting_for_its_commit_does_not_hold_up_reads) {
  Fixture f;
  EmulatorProcess emu(f.args({"--latency", "write_ms=2000,serialize_writes"}), f.dir.file("stderr"));
  auto admin = f.client(emu.port());
  httplib::Headers ah = {{"X-Emulator-Admin-Token", kAdmin}};
  const auto received = [&] {
    return json::parse(admin->Get("/_emulator/stats", ah)->body)["received"].get<int>();
  };
  const int before = received();
  std::atomic<bool> write_done{false};
  std::thread writer([&] {
    auto cli = f.client(emu.port());
    auto r = cli->Post("/v1/auth/approle/role/slow", root_headers(), R"({"token_policies":"a"})",
                       "application/json");
    BOOST_TEST(r->status == 204);
    write_done = true;
  });
  BOOST_TEST(ps::testing::poll_until([&] { return received() >= before + 2; }));  // write read
  auto reader = f.client(emu.port());
  BOOST_TEST(reader->Get("/v1/sys/health")->status == 200);
  BOOST_TEST(reader->Get("/v1/auth/token/lookup-self", root_headers())->status == 200);
  BOOST_TEST(!write_done.load());
  writer.join();
  BOOST_TEST(reader->Get("/v1/auth/approle/role/slow", root_headers())->status == 200);
  // The model can be changed at run time and read back.
  auto set = admin->Post("/_emulator/latency", ah, R"({"read_ms":1})", "application/json");
  BOOST_TEST(set->status == 204);
  BOOST_TEST(json::parse(admin->Get("/_emulator/latency", ah)->body)["write_ms"] == 0);
}

BOOST_AUTO_TEST_CASE(agent_listener_mode_answers_412_without_the_request_header) {
  Fixture f;
  EmulatorProcess emu(f.args({"--require-request-header"}), f.dir.file("stderr"));
  auto cli = f.client(emu.port());
  BOOST_TEST(cli->Get("/v1/sys/health")->status == 412);
  BOOST_TEST(cli->Get("/v1/sys/health", {{"X-Vault-Request", "true"}})->status == 200);
}

BOOST_AUTO_TEST_CASE(client_certificates_are_required_when_a_client_ca_is_given) {
  Fixture f;
  EmulatorProcess emu(f.args({"--tls-client-ca", f.dir.file("pki/ca.pem")}), f.dir.file("stderr"));
  auto anonymous = f.client(emu.port());
  BOOST_TEST(!anonymous->Get("/v1/sys/health"));
  auto stranger = f.client(emu.port(), f.dir.file("pki/other-client.pem"), f.dir.file("pki/other-client-key.pem"));
  BOOST_TEST(!stranger->Get("/v1/sys/health"));
  auto known = f.client(emu.port(), f.dir.file("pki/client.pem"), f.dir.file("pki/client-key.pem"));
  auto r = known->Get("/v1/sys/health");
  BOOST_REQUIRE(r);
  BOOST_TEST(r->status == 200);
}

BOOST_AUTO_TEST_CASE(bad_arguments_and_unusable_files_stop_it_at_start) {
  Fixture f;
  EmulatorProcess usage({"--listen", "127.0.0.1:0"}, f.dir.file("stderr"));
  BOOST_TEST(usage.first_line().empty());
  BOOST_TEST(usage.stop() == 2);
  EmulatorProcess bad_key({"--listen", "127.0.0.1:0", "--tls-cert", f.dir.file("pki/server.pem"),
                           "--tls-key", f.dir.file("pki/other-ca-key.pem"), "--dev"},
                          f.dir.file("stderr"));
  BOOST_TEST(bad_key.first_line().empty());
  BOOST_TEST(bad_key.stop() == 1);
  std::ofstream(f.dir.file("broken.json")) << "{ not a state file";
  EmulatorProcess bad_state(f.args({"--state", f.dir.file("broken.json")}), f.dir.file("stderr"));
  BOOST_TEST(bad_state.first_line().empty());
  BOOST_TEST(bad_state.stop() == 1);
}

// End to end over TLS, what the sidecar's revocation relies on (pinned case by case, with the
// Vault sources, in revocation_test.cpp): a role change leaves an issued token's policies
// alone, lookup-accessor names the role, revoke-accessor kills the token (403 with both
// "permission denied" and "invalid token"), and revoking it again is a 200 with a warning.
BOOST_AUTO_TEST_CASE(revocation_by_accessor_end_to_end) {
  TempDir dir;
  ps::testing::DevPki pki(dir);
  EmulatorProcess emu(dir, pki);
  auto [role_id, secret] = emu.make_approle(dir, "agent-e2e", {{"token_policies", "t2-observer"}});
  auto login = emu.send("POST", "/v1/auth/approle/login",
                        {{"role_id", role_id}, {"secret_id", secret}}, {});
  BOOST_REQUIRE(login.status == 200);
  const std::string token = login.body["auth"]["client_token"];
  const std::string accessor = login.body["auth"]["accessor"];
  const std::vector<std::pair<std::string, std::string>> as_agent = {{"X-Vault-Token", token}};

  BOOST_TEST(emu.root("POST", "/v1/auth/approle/role/agent-e2e/policies",
                      {{"token_policies", "t0-observer"}}).status == 204);
  auto self = emu.send("GET", "/v1/auth/token/lookup-self", nullptr, as_agent);
  BOOST_TEST(self.status == 200);
  BOOST_TEST(self.body["data"]["policies"] == json({"default", "t2-observer"}));

  auto listed = emu.root("GET", "/v1/auth/token/accessors?list=true");
  BOOST_TEST(listed.body["data"]["keys"].dump().find(accessor) != std::string::npos);
  auto look = emu.root("POST", "/v1/auth/token/lookup-accessor", {{"accessor", accessor}});
  BOOST_TEST(look.status == 200);
  BOOST_TEST(look.body["data"]["meta"]["role_name"] == "agent-e2e");
  BOOST_TEST(look.body["data"]["creation_time"].is_number_integer());

  BOOST_TEST(emu.root("POST", "/v1/auth/token/revoke-accessor", {{"accessor", accessor}}).status == 204);
  auto dead = emu.send("GET", "/v1/auth/token/lookup-self", nullptr, as_agent);
  BOOST_TEST(dead.status == 403);
  const std::string errors = dead.body["errors"].dump();
  BOOST_TEST(errors.find("permission denied") != std::string::npos);
  BOOST_TEST(errors.find("invalid token") != std::string::npos);
  auto again = emu.root("POST", "/v1/auth/token/revoke-accessor", {{"accessor", accessor}});
  BOOST_TEST(again.status == 200);
  BOOST_TEST(again.body["warnings"] == json({"No token found with this accessor"}));
}

BOOST_AUTO_TEST_SUITE_END()
