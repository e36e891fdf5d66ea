// The sidecar's own authentication against the emulator process: AppRole login with a
// least-privilege policy, token expiry and revocation mid-run leading to a new login, and no
// secret in any log line or error across a whole session with failures.
#include <boost/test/unit_test.hpp>

#include <fstream>
#include <random>
#include <sstream>

#include "tests/support/simulated_clock.h"
#include "tests/vault/emulator_fixture.h"
#include "vault/connection.h"
#include "vault/retrying_api.h"

namespace ps::vault {
namespace {

using namespace ps::vault::testing;
using nlohmann::json;
using std::chrono::milliseconds;

// The sidecar's least-privilege policy, per-field endpoint only (vault/README.md,
// "Least-privilege policy and its caveat").
const json kSidecarPolicy = {
    {"path",
     {{"auth/approle/role/+/policies", {{"capabilities", {"read", "update"}}}},
      {"auth/token/lookup-self", {{"capabilities", {"read"}}}},
      {"auth/token/renew-self", {{"capabilities", {"update"}}}}}}};

struct AuthSession : EmulatorFixture {
  std::string role_id, secret_id;
  std::shared_ptr<VaultClientFactory> vault_factory;
  std::shared_ptr<AuthManager> auth;
  std::unique_ptr<VaultClient> worker;

  explicit AuthSession(Clock* manager_clock = nullptr) {
    emu->put_policy("sidecar", kSidecarPolicy);
    std::tie(role_id, secret_id) =
        emu->make_approle(dir, "policy-sidecar", {{"token_policies", {"sidecar"}}});
    auto root = root_client();
    for (const char* name : {"agent-1", "agent-2", "agent-3"}) {
      BOOST_REQUIRE(root->write_role(role(name), RoleSpec{}).ok());
    }
    VaultConfig c = config();
    c.auth.method = AuthMethod::approle;
    c.auth.role_id_file = dir.file("policy-sidecar.role_id");
    c.auth.secret_id_file = dir.file("policy-sidecar.secret_id");
    vault_factory = factory(c);
    Clock& auth_clock = manager_clock ? *manager_clock : static_cast<Clock&>(clock);
    auth = std::make_shared<AuthManager>(c.auth, vault_factory->make_client(nullptr), auth_clock,
                                         [] { return 0.5; }, logs.fn());
    worker = vault_factory->make_client(auth);
  }

  std::string current_token() { return auth->current_token()->token.reveal(); }

  int count(const std::string& method, const std::string& path, int status) {
    int n = 0;
    for (const auto& e : emu->vault_requests()) {
      n += e["method"] == method && e["path"] == path && e["status"] == status ? 1 : 0;
    }
    return n;
  }
};

BOOST_AUTO_TEST_SUITE(vault_auth_against_emulator)

BOOST_FIXTURE_TEST_CASE(token_expiry_mid_run_leads_to_a_new_approle_login, AuthSession) {
  SimulatedClock waits;
  RetryingVaultApi vault(vault_factory->make_client(auth), waits, BackoffPolicy{},
                         [] { return 0.5; }, auth.get());
  BOOST_REQUIRE(vault.write_role_policies(role("agent-1"), {"tier1"}).ok());
  BOOST_TEST(auth->status().generation == 1u);
  const std::string first = current_token();

  emu->admin("POST", "/_emulator/tokens/expire", {{"token", first}});
  auto r = vault.write_role_policies(role("agent-2"), {"tier2"});
  BOOST_REQUIRE_MESSAGE(r.ok(), (r.ok() ? std::string() : r.error().describe()));
  BOOST_TEST(auth->status().generation == 2u);
  BOOST_TEST(current_token() != first);
  BOOST_TEST(waits.sleeps().empty());  // re-authentication needs no backoff wait
  BOOST_TEST(count("POST", "/v1/auth/approle/login", 200) == 2);
  BOOST_TEST(count("POST", "/v1/auth/approle/role/agent-2/policies", 403) == 1);
  BOOST_TEST(count("POST", "/v1/auth/approle/role/agent-2/policies", 204) == 1);

  const std::string second = current_token();
  emu->admin("POST", "/_emulator/tokens/revoke", {{"token", second}});
  BOOST_REQUIRE(vault.read_role_policies(role("agent-2")).ok());
  BOOST_TEST(auth->status().generation == 3u);
  BOOST_TEST(auth->status().logins == 3u);
  auto policies = worker->read_role_policies(role("agent-2"));
  BOOST_REQUIRE(policies.ok() && policies->has_value());
  BOOST_TEST((**policies == std::vector<std::string>{"tier2"}));
}

BOOST_FIXTURE_TEST_CASE(the_least_privilege_policy_cannot_touch_anything_else, AuthSession) {
  BOOST_REQUIRE(worker->write_role_policies(role("agent-3"), {"tier3"}).ok());
  RoleSpec spec;
  spec.token_policies = std::vector<std::string>{"root-ish"};
  auto full = worker->write_role(role("agent-3"), spec);
  BOOST_REQUIRE(!full.ok());
  BOOST_TEST(to_string(full.error().code) == "permission_denied");
  auto listing = worker->list_roles();
  BOOST_REQUIRE(!listing.ok());
  BOOST_TEST(to_string(listing.error().code) == "permission_denied");
}

BOOST_FIXTURE_TEST_CASE(the_renewal_loop_renews_the_token_through_vault, AuthSession) {
  BOOST_REQUIRE(auth->current_token().ok());
  auto before = auth->status();
  BOOST_TEST(before.ttl_known);
  BOOST_TEST(before.renewable);
  // Drive the renewal directly: what tick() does when the renewal is due.
  SimulatedClock sim;
  AuthConfig manual_config;
  manual_config.method = AuthMethod::approle;
  manual_config.role_id_file = dir.file("policy-sidecar.role_id");
  manual_config.secret_id_file = dir.file("policy-sidecar.secret_id");
  AuthManager manual(manual_config, vault_factory->make_client(nullptr), sim, [] { return 0.5; },
                     logs.fn());
  BOOST_REQUIRE(manual.current_token().ok());
  auto due = manual.tick();
  sim.advance(std::chrono::duration_cast<milliseconds>(due - sim.steady_now()));
  manual.tick();
  BOOST_TEST(manual.status().renewals == 1u);
  BOOST_TEST(count("POST", "/v1/auth/token/renew-self", 200) == 1);
}

BOOST_FIXTURE_TEST_CASE(a_token_file_is_reread_after_vault_rejects_its_token, EmulatorFixture) {
  emu->put_policy("sidecar", kSidecarPolicy);
  // A plain variable, not a structured binding: clang 14 cannot capture bindings in a lambda.
  const auto approle = emu->make_approle(dir, "policy-sidecar", {{"token_policies", {"sidecar"}}});
  auto root = root_client();
  BOOST_REQUIRE(root->write_role(role("agent-1"), RoleSpec{}).ok());
  // Stand in for Vault Agent: log in and write the bare token to the sink file.
  auto agent_login = [&] {
    auto a = root->approle_login(Secret(approle.first), Secret(approle.second));
    BOOST_REQUIRE(a.ok());
    return a->client_token.reveal();
  };
  const std::string sink = dir.file("agent-sink");
  const std::string first = agent_login();
  replace_file(sink, first);

  VaultConfig c = config();
  c.auth.method = AuthMethod::token_file;
  c.auth.token_file = sink;
  auto vault = VaultConnection::open(c, clock, [] { return 0.5; }, logs.fn());
  BOOST_REQUIRE(vault.ok());
  SimulatedClock waits;
  RetryingVaultApi api(vault->client(), waits, BackoffPolicy{}, [] { return 0.5; },
                       vault->auth.get());
  BOOST_REQUIRE(api.write_role_policies(role("agent-1"), {"tier1"}).ok());

  emu->admin("POST", "/_emulator/tokens/revoke", {{"token", first}});
  replace_file(sink, agent_login() + "\n");  // the agent has logged in again
  auto r = api.write_role_policies(role("agent-1"), {"tier2"});
  BOOST_REQUIRE_MESSAGE(r.ok(), (r.ok() ? std::string() : r.error().describe()));
  BOOST_TEST(vault->auth->status().generation == 2u);
  BOOST_TEST(waits.sleeps().empty());
  BOOST_TEST(logs.find_any({first, approle.first, approle.second}).empty());
}

struct SessionOnSimulatedClock {
  SimulatedClock sim;
  AuthSession session{&sim};
};

BOOST_FIXTURE_TEST_CASE(no_secret_reaches_a_log_line_or_an_error_in_a_session_with_failures,
                        SessionOnSimulatedClock) {
  auto& s = session;
  std::vector<std::string> errors;
  auto note = [&](const auto& result) {
    if (!result.ok()) errors.push_back(result.error().describe());
  };
  // A wrong secret id first: login fails, backs off.
  write_file(s.dir.file("policy-sidecar.secret_id"), "00000000-not-the-secret-id\n");
  note(s.auth->current_token());
  note(s.worker->write_role_policies(role("agent-1"), {"tier1"}));
  write_file(s.dir.file("policy-sidecar.secret_id"), s.secret_id + "\n");
  sim.advance(std::chrono::minutes{1});
  SimulatedClock waits;
  RetryingVaultApi vault(s.vault_factory->make_client(s.auth), waits, BackoffPolicy{},
                         [] { return 0.5; }, s.auth.get());
  note(vault.write_role_policies(role("agent-1"), {"tier1"}));
  std::vector<std::string> tokens = {s.current_token()};

  s.emu->seal();
  note(s.worker->read_role_policies(role("agent-1")));
  note(s.worker->renew_self(Secret(tokens.back()), std::chrono::seconds{0}));
  s.emu->unseal();
  s.emu->admin("POST", "/_emulator/tokens/expire", {{"token", tokens.back()}});
  note(s.worker->read_role_policies(role("agent-1")));  // 403 invalid token, raw
  note(vault.read_role_policies(role("agent-1")));      // re-authenticates
  tokens.push_back(s.current_token());
  note(s.worker->write_role_policies(role("no-such-agent"), {"x"}));
  note(s.worker->list_roles());
  note(s.worker->lookup_self(Secret(tokens.back())));
  note(s.worker->approle_login(Secret(s.role_id), Secret("wrong-" + s.secret_id)));
  note(s.worker->approle_login(Secret(s.role_id), Secret(s.secret_id)));
  s.emu->fault({{"kind", "drop"}, {"count", 1}});
  note(s.worker->read_role_policies(role("agent-1")));
  s.auth->tick();

  BOOST_TEST(errors.size() >= 7u);
  std::vector<std::string> secrets = {s.role_id, s.secret_id, s.emu->options().root_token,
                                      s.emu->options().admin_token};
  for (const auto& t : tokens) secrets.push_back(t);
  for (const auto& e : errors) {
    for (const auto& secret : secrets) {
      BOOST_TEST_CONTEXT(e) { BOOST_TEST(e.find(secret) == std::string::npos); }
    }
  }
  std::string leak = s.logs.find_any(secrets);
  BOOST_TEST(leak.empty(), "secret in a log line: " << leak);
  BOOST_TEST(!s.logs.lines.empty());
  // The emulator's request log promises the same.
  for (const auto& entry : s.emu->request_log()) {
    const std::string line = entry.dump();
    for (const auto& secret : secrets) BOOST_TEST(line.find(secret) == std::string::npos);
  }
}

BOOST_FIXTURE_TEST_CASE(hostile_agent_ids_never_leave_the_role_path, EmulatorFixture) {
  auto namer = RoleNamer::create(RoleNamer::kDefaultTemplate, "approle");
  BOOST_REQUIRE(namer.ok());
  auto vault = root_client();
  BOOST_REQUIRE(vault->write_role(role("agent-known"), RoleSpec{}).ok());

  std::vector<std::string> ids = {
      "known", "Known", "a", "Agent_7", "x.y-z", "../x", "..", ".", "x/../../sys/seal",
      "%2F", "a%2Fb", "x?list=true", "x#frag", "a b", "x\r\nX-Vault-Token: evil",
      std::string("a\0b", 3), "\xc3\xa9", "", std::string(5000, 'a'), "x/", "x\\y",
      "x;y", "+", "*", "x-", "x.", "%2e%2e"};
  std::mt19937_64 rng(7);
  const std::string alphabet = "aZ09_-.%/?#&=+ \t\r\n\x01\x7f\xc3\xa9";
  for (int i = 0; i < 2000; ++i) {
    std::string id;
    std::size_t len = 1 + rng() % 12;
    for (std::size_t k = 0; k < len; ++k) id += alphabet[rng() % alphabet.size()];
    ids.push_back(id);
  }
  const auto before = emu->vault_requests().size();
  std::size_t accepted = 0;
  for (const auto& id : ids) {
    auto r = namer->role_for(id);
    if (!r) continue;
    ++accepted;
    // Only agent-known exists: the write lands there and nowhere else (no role is created).
    const bool exists = r->str() == "agent-known";
    auto written = vault->write_role_policies(*r, {"tier1"});
    BOOST_TEST(written.ok() == exists, r->str());
    if (!written.ok()) BOOST_TEST(to_string(written.error().code) == "role_missing", r->str());
    auto back = vault->read_role_policies(*r);
    BOOST_REQUIRE(back.ok());
    BOOST_TEST(back->has_value() == exists, r->str());
  }
  BOOST_TEST(accepted > 20u);
  auto log = emu->vault_requests();
  BOOST_REQUIRE(log.size() == before + 2 * accepted);  // every refused id sent nothing
  const std::string prefix = "/v1/auth/approle/role/";
  const std::string suffix = "/policies";
  auto allowed = [&](const std::string& path) {
    if (path.size() <= prefix.size() + suffix.size() || path.rfind(prefix, 0) != 0 ||
        path.compare(path.size() - suffix.size(), suffix.size(), suffix) != 0) {
      return false;
    }
    std::string name = path.substr(prefix.size(), path.size() - prefix.size() - suffix.size());
    for (char c : name) {
      if (c >= 'A' && c <= 'Z') return false;  // always the lowercase form
    }
    return name.rfind("agent-", 0) == 0 && matches_vault_role_rule(name);
  };
  for (std::size_t i = before; i < log.size(); ++i) {
    const std::string path = log[i].value("path", "");
    BOOST_TEST_CONTEXT(path) {
      BOOST_TEST(allowed(path));
      BOOST_TEST(log[i].value("query", "").empty());
    }
  }
  // The known role got its policies through the lowercased name.
  BOOST_TEST((**vault->read_role_policies(role("agent-known")) ==
              std::vector<std::string>{"tier1"}));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace ps::vault
