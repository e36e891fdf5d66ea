// VaultClient on the wire against a scripted TLS server (ServerTls + httplib on 127.0.0.1
// port 0): headers, paths, bodies, keep-alive, redirects, Retry-After, timeouts, redaction.
// The scripted server makes answers the emulator has no reason to give (an echoed secret, a
// proxy's HTML) and lets the test see exactly what the client sent.
#include <boost/test/unit_test.hpp>

#include <httplib.h>
#include <signal.h>

#include <atomic>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "tests/support/emulator_process.h"
#include "tests/vault/test_support.h"
#include "vault/auth.h"
#include "vault/client.h"
#include "vault/connection.h"

namespace ps::vault {
namespace {

using namespace ps::vault::testing;
using ps::testing::DevPki;
using nlohmann::json;
using std::chrono::milliseconds;

struct Seen {
  std::string method, path, body;
  httplib::Headers headers;
  int remote_port = 0;
};

class ScriptedServer {
 public:
  using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;

  ScriptedServer(const DevPki& pki, Handler handler, bool tls = true)
      : handler_(std::move(handler)) {
    if (tls) {
      auto created = tls::ServerTls::create({pki.server, pki.server_key, ""}, nullptr);
      if (!created.ok()) throw std::runtime_error(created.status().message());
      server_tls_ = *created;
      server_ = server_tls_->make_httplib_server();
    } else {
      server_ = std::make_unique<httplib::Server>();
    }
    auto route = [this](const httplib::Request& req, httplib::Response& res) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        seen_.push_back(Seen{req.method, req.target, req.body, req.headers, req.remote_port});
      }
      handler_(req, res);
    };
    server_->set_tcp_nodelay(true);  // else Nagle + delayed ACK cost 40 ms per answer
    server_->Get(".*", route);
    server_->Post(".*", route);
    port_ = server_->bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    while (!server_->is_running()) std::this_thread::sleep_for(milliseconds{1});
  }
  ~ScriptedServer() {
    server_->stop();
    thread_.join();
  }
  int port() const { return port_; }
  std::vector<Seen> seen() {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_;
  }
  httplib::Server& http() { return *server_; }

 private:
  Handler handler_;
  std::shared_ptr<tls::ServerTls> server_tls_;
  std::unique_ptr<httplib::Server> server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::vector<Seen> seen_;
};

void reply_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

const json kPolicies = {{"data", {{"token_policies", {"tier1", "base"}}}}};

struct WireFixture {
  TempDir dir;
  DevPki pki{dir};
  RealClock clock;
  LogCapture logs;
  std::vector<RequestEvent> events;
  std::mutex events_mu;

  std::unique_ptr<VaultClient> client(int port, const std::string& token,
                                      std::function<void(VaultConfig&)> tweak = {},
                                      bool tls = true) {
    VaultConfig c;
    c.address = std::string(tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(port);
    c.allow_plaintext_loopback = !tls;
    c.tls.ca_file = pki.ca;
    c.request_timeout = milliseconds{5000};
    if (tweak) tweak(c);
    auto factory = VaultClientFactory::create(c, clock, logs.fn(), [this](const RequestEvent& e) {
      std::lock_guard<std::mutex> lock(events_mu);
      events.push_back(e);
    });
    BOOST_REQUIRE_MESSAGE(factory.ok(), (factory.ok() ? "" : factory.error().message));
    return factory.value()->make_client(std::make_shared<StaticTokenSource>(Secret(token)));
  }
};

RoleName role(const std::string& name) { return RoleName::parse(name).value(); }

BOOST_AUTO_TEST_SUITE(vault_client_wire)

BOOST_FIXTURE_TEST_CASE(sends_vault_headers_paths_and_bodies, WireFixture) {
  ScriptedServer server(pki, [](const httplib::Request& req, httplib::Response& res) {
    if (req.path == "/v1/sys/health") {
      reply_json(res, 200, {{"initialized", true}, {"sealed", false}, {"standby", false}});
    } else if (req.method == "POST") {
      res.status = 204;
    } else if (req.path.find("/role") != std::string::npos && req.has_param("list")) {
      reply_json(res, 200, {{"data", {{"keys", {"agent-1"}}}}});
    } else if (req.path == "/v1/auth/token/lookup-self") {
      reply_json(res, 200, {{"data", {{"ttl", 10}}}});
    } else {
      reply_json(res, 200, kPolicies);
    }
  });
  auto c = client(server.port(), "hvs.header-token-1", [](VaultConfig& cfg) {
    cfg.vault_namespace = "team-a/";
    cfg.mount = "agents/approle";
  });
  BOOST_REQUIRE(c->health().ok());
  auto policies = c->read_role_policies(role("agent-7"));
  BOOST_REQUIRE(policies.ok());
  BOOST_TEST((policies.value() == std::vector<std::string>{"tier1", "base"}));
  BOOST_REQUIRE(c->write_role_policies(role("agent-7"), {"tier2", "base"}).ok());
  BOOST_REQUIRE(c->list_roles().ok());
  BOOST_REQUIRE(c->lookup_self(Secret("hvs.explicit-token-2")).ok());

  auto seen = server.seen();
  BOOST_REQUIRE(seen.size() == 5u);
  auto header = [](const Seen& s, const char* name) {
    auto it = s.headers.find(name);
    return it == s.headers.end() ? std::string("<none>") : it->second;
  };
  for (const auto& s : seen) {
    BOOST_TEST(header(s, "X-Vault-Request") == "true");
    BOOST_TEST(header(s, "X-Vault-Namespace") == "team-a/");
  }
  BOOST_TEST(seen[0].path == "/v1/sys/health");
  BOOST_TEST(header(seen[0], "X-Vault-Token") == "<none>");
  BOOST_TEST(seen[1].method == "GET");
  BOOST_TEST(seen[1].path == "/v1/auth/agents/approle/role/agent-7/policies");
  BOOST_TEST(header(seen[1], "X-Vault-Token") == "hvs.header-token-1");
  BOOST_TEST(seen[2].method == "POST");
  BOOST_TEST(seen[2].path == "/v1/auth/agents/approle/role/agent-7/policies");
  BOOST_TEST(header(seen[2], "Content-Type") == "application/json");
  BOOST_TEST(json::parse(seen[2].body) == json({{"token_policies", {"tier2", "base"}}}));
  BOOST_TEST(seen[3].method == "GET");
  BOOST_TEST(seen[3].path == "/v1/auth/agents/approle/role?list=true");
  BOOST_TEST(seen[4].path == "/v1/auth/token/lookup-self");
  BOOST_TEST(header(seen[4], "X-Vault-Token") == "hvs.explicit-token-2");

  std::lock_guard<std::mutex> lock(events_mu);
  BOOST_REQUIRE(events.size() == 5u);
  BOOST_TEST(to_string(events[1].operation) == "read_role_policies");
  BOOST_TEST(events[2].http_status == 204);
  BOOST_TEST(!events[2].error.has_value());
}

BOOST_FIXTURE_TEST_CASE(one_kept_alive_connection_serves_many_calls, WireFixture) {
  ScriptedServer server(pki, [](const httplib::Request&, httplib::Response& res) {
    reply_json(res, 200, kPolicies);
  });
  server.http().set_keep_alive_max_count(1000);
  auto c = client(server.port(), "hvs.t");
  for (int i = 0; i < 200; ++i) BOOST_REQUIRE(c->read_role_policies(role("agent-1")).ok());
  BOOST_TEST(c->connections_opened() == 1u);
  std::set<int> ports;
  for (const auto& s : server.seen()) ports.insert(s.remote_port);
  BOOST_TEST(ports.size() == 1u);  // the server saw one connection too
}

BOOST_FIXTURE_TEST_CASE(reconnects_when_the_server_closes_the_connection, WireFixture) {
  ScriptedServer server(pki, [](const httplib::Request&, httplib::Response& res) {
    reply_json(res, 200, kPolicies);
  });
  server.http().set_keep_alive_max_count(3);  // the server closes after 3 requests
  auto c = client(server.port(), "hvs.t");
  for (int i = 0; i < 9; ++i) BOOST_REQUIRE(c->read_role_policies(role("agent-1")).ok());
  BOOST_TEST(c->connections_opened() == 3u);
}

BOOST_FIXTURE_TEST_CASE(redirects_are_not_followed_and_mean_retry, WireFixture) {
  ScriptedServer server(pki, [](const httplib::Request&, httplib::Response& res) {
    res.status = 307;
    res.set_header("Location", "https://127.0.0.1:1/v1/elsewhere");
  });
  auto c = client(server.port(), "hvs.t");
  auto r = c->read_role(role("agent-1"));
  BOOST_REQUIRE(!r.ok());
  BOOST_TEST(to_string(r.error().code) == "standby");
  BOOST_TEST(to_string(r.error().action) == "retry");
  BOOST_TEST(server.seen().size() == 1u);
}

BOOST_FIXTURE_TEST_CASE(retry_after_header_and_odd_bodies_are_classified, WireFixture) {
  std::atomic<int> step{0};
  ScriptedServer server(pki, [&](const httplib::Request&, httplib::Response& res) {
    switch (step++) {
      case 0:
        res.set_header("Retry-After", "3");
        reply_json(res, 429, {{"errors", {"rate limit quota exceeded"}}});
        break;
      case 1:
        res.status = 502;
        res.set_content("<html>Bad Gateway</html>", "text/html");
        break;
      case 2: res.status = 200; res.set_content("not json", "text/plain"); break;
      default: reply_json(res, 404, {{"errors", json::array()}}); break;
    }
  });
  auto c = client(server.port(), "hvs.t");
  auto limited = c->list_roles();
  BOOST_REQUIRE(!limited.ok());
  BOOST_TEST(to_string(limited.error().code) == "rate_limited");
  BOOST_TEST((limited.error().retry_after == std::chrono::seconds{3}));
  auto proxy = c->list_roles();
  BOOST_REQUIRE(!proxy.ok());
  BOOST_TEST(to_string(proxy.error().code) == "server_error");
  auto garbage = c->read_role(role("agent-1"));
  BOOST_REQUIRE(!garbage.ok());
  BOOST_TEST(to_string(garbage.error().code) == "bad_response");
  BOOST_TEST(to_string(garbage.error().action) == "give_up");
  auto missing = c->read_role(role("agent-1"));
  BOOST_REQUIRE(missing.ok());
  BOOST_TEST(!missing->has_value());
}

BOOST_FIXTURE_TEST_CASE(reads_and_lists_are_empty_on_a_404_only_without_errors, WireFixture) {
  std::atomic<bool> with_errors{false};
  ScriptedServer server(pki, [&](const httplib::Request&, httplib::Response& res) {
    json errors = with_errors ? json::array({"no handler for route"}) : json::array();
    reply_json(res, 404, {{"errors", errors}});
  });
  auto c = client(server.port(), "hvs.t");
  auto expect_not_found = [](const auto& r) {
    BOOST_REQUIRE(!r.ok());
    BOOST_TEST(to_string(r.error().code) == "not_found");
    BOOST_TEST(to_string(r.error().action) == "give_up");
    BOOST_TEST(r.error().http_status == 404);
  };
  for (bool errors : {false, true}) {
    with_errors = errors;
    auto read = c->read_role(role("agent-1"));
    auto policies = c->read_role_policies(role("agent-1"));
    auto roles = c->list_roles();
    auto secret_ids = c->list_secret_id_accessors(role("agent-1"));
    auto tokens = c->list_token_accessors();
    if (!errors) {
      BOOST_TEST((read.ok() && !read->has_value()));
      BOOST_TEST((policies.ok() && !policies->has_value()));
      BOOST_TEST((roles.ok() && roles->empty()));
      BOOST_TEST((secret_ids.ok() && secret_ids->empty()));
      BOOST_TEST((tokens.ok() && tokens->empty()));
    } else {
      expect_not_found(read);
      expect_not_found(policies);
      expect_not_found(roles);
      expect_not_found(secret_ids);
      expect_not_found(tokens);
    }
  }
  BOOST_TEST(server.seen().size() == 10u);
}

BOOST_FIXTURE_TEST_CASE(secrets_echoed_by_the_server_are_redacted_from_errors, WireFixture) {
  ScriptedServer server(pki, [](const httplib::Request& req, httplib::Response& res) {
    auto body = json::parse(req.body.empty() ? "{}" : req.body);
    std::string token = req.get_header_value("X-Vault-Token");
    reply_json(res, 400,
               {{"errors", {"bad login for " + body.value("role_id", std::string()) + " / " +
                            body.value("secret_id", std::string()) + " / " + token}}});
  });
  auto c = client(server.port(), "hvs.server-side-token");
  auto login = c->approle_login(Secret("role-id-0a1b2c"), Secret("secret-id-3d4e5f"));
  BOOST_REQUIRE(!login.ok());
  BOOST_TEST(login.error().message.find("role-id-0a1b2c") == std::string::npos);
  BOOST_TEST(login.error().message.find("secret-id-3d4e5f") == std::string::npos);
  BOOST_TEST(login.error().message.find("<redacted>") != std::string::npos);
  auto read = c->read_role(role("agent-1"));
  BOOST_REQUIRE(!read.ok());
  BOOST_TEST(read.error().message.find("hvs.server-side-token") == std::string::npos);
  BOOST_TEST(logs.find_any({"role-id-0a1b2c", "secret-id-3d4e5f", "hvs.server-side-token"})
                 .empty());
}

BOOST_FIXTURE_TEST_CASE(a_token_that_could_inject_headers_is_never_sent, WireFixture) {
  ScriptedServer server(pki, [](const httplib::Request&, httplib::Response& res) {
    reply_json(res, 200, kPolicies);
  });
  auto c = client(server.port(), "hvs.x\r\nX-Evil: 1");
  auto r = c->read_role_policies(role("agent-1"));
  BOOST_REQUIRE(!r.ok());
  BOOST_TEST(to_string(r.error().code) == "auth_unavailable");
  BOOST_TEST(r.error().message.find("hvs.x") == std::string::npos);
  BOOST_TEST(!c->lookup_self(Secret("a b")).ok());
  BOOST_TEST(server.seen().empty());
}

BOOST_FIXTURE_TEST_CASE(a_slow_answer_is_a_retryable_timeout_and_the_next_call_reconnects,
                        WireFixture) {
  std::atomic<bool> slow{true};
  ScriptedServer server(pki, [&](const httplib::Request&, httplib::Response& res) {
    if (slow.exchange(false)) std::this_thread::sleep_for(milliseconds{1500});
    reply_json(res, 200, kPolicies);
  });
  auto c = client(server.port(), "hvs.t",
                  [](VaultConfig& cfg) { cfg.request_timeout = milliseconds{300}; });
  auto r = c->read_role_policies(role("agent-1"));
  BOOST_REQUIRE(!r.ok());
  BOOST_TEST(to_string(r.error().code) == "timeout");
  BOOST_TEST(to_string(r.error().action) == "retry");
  BOOST_TEST(c->read_role_policies(role("agent-1")).ok());
  BOOST_TEST(c->connections_opened() == 2u);
}

BOOST_FIXTURE_TEST_CASE(nothing_listening_is_a_retryable_transport_error, WireFixture) {
  int port = 0;
  {
    ScriptedServer gone(pki, [](const httplib::Request&, httplib::Response&) {});
    port = gone.port();
  }
  auto c = client(port, "hvs.t");
  auto r = c->health();
  BOOST_REQUIRE(!r.ok());
  BOOST_TEST(to_string(r.error().code) == "transport");
  BOOST_TEST(to_string(r.error().action) == "retry");
  std::lock_guard<std::mutex> lock(events_mu);
  BOOST_REQUIRE(events.size() == 1u);
  BOOST_TEST(events[0].http_status == 0);
  BOOST_TEST(events[0].error.has_value());
}

BOOST_FIXTURE_TEST_CASE(plain_http_only_to_loopback_with_the_explicit_flag, WireFixture) {
  ScriptedServer server(
      pki, [](const httplib::Request&, httplib::Response& res) { reply_json(res, 200, kPolicies); },
      /*tls=*/false);
  auto c = client(server.port(), "hvs.t", {}, /*tls=*/false);
  BOOST_TEST(c->read_role_policies(role("agent-1")).ok());
  BOOST_TEST(logs.contains("plain HTTP"));
  VaultConfig refused;
  refused.address = "http://127.0.0.1:" + std::to_string(server.port());
  BOOST_TEST(!VaultClientFactory::create(refused, clock, logs.fn()).ok());
}

BOOST_FIXTURE_TEST_CASE(a_connection_wires_factory_auth_and_clients_from_config, WireFixture) {
  ScriptedServer server(pki, [](const httplib::Request&, httplib::Response& res) {
    reply_json(res, 200, kPolicies);
  });
  VaultConfig c;
  c.address = "https://127.0.0.1:" + std::to_string(server.port());
  c.tls.ca_file = pki.ca;
  c.auth.method = AuthMethod::token;
  c.auth.token = Secret("hvs.from-config-9");
  auto vault = VaultConnection::open(c, clock, [] { return 0.5; }, logs.fn());
  BOOST_REQUIRE(vault.ok());
  auto one = vault->client();
  auto two = vault->client();
  BOOST_TEST(one->read_role_policies(role("agent-1")).ok());
  BOOST_TEST(two->read_role_policies(role("agent-2")).ok());
  for (const auto& s : server.seen()) {
    BOOST_TEST(s.headers.find("X-Vault-Token")->second == "hvs.from-config-9");
  }
  BOOST_TEST(one->connections_opened() == 1u);
  BOOST_TEST(two->connections_opened() == 1u);

  c.auth.token = Secret();
  auto invalid = VaultConnection::open(c, clock, [] { return 0.5; }, logs.fn());
  BOOST_REQUIRE(!invalid.ok());
  BOOST_TEST(invalid.error().message.find("vault.auth") == 0u);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace ps::vault
