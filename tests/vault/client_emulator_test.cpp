// VaultClient against the real vault-emulator process over TLS: every operation, and every
// error class produced through the emulator's admin fault API.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <utility>

#include "tests/support/simulated_clock.h"
#include "tests/vault/emulator_fixture.h"
#include "vault/retrying_api.h"

namespace ps::vault {
namespace {

using namespace ps::vault::testing;
using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

bool contains(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

std::string code_of(const Error& e) { return std::string(to_string(e.code)); }
std::string action_of(const Error& e) { return std::string(to_string(e.action)); }

BOOST_AUTO_TEST_SUITE(vault_client_against_emulator)

BOOST_FIXTURE_TEST_CASE(every_operation_round_trips, EmulatorFixture) {
  auto vault = root_client();

  auto none = vault->list_roles();
  BOOST_REQUIRE_MESSAGE(none.ok(), (none.ok() ? std::string() : none.error().describe()));
  BOOST_TEST(none->empty());  // 404 {"errors":[]} is an empty list

  auto health = vault->health();
  BOOST_REQUIRE(health.ok());
  BOOST_TEST(to_string(health->state) == "active");
  BOOST_TEST(health->initialized);
  BOOST_REQUIRE(vault->leader().ok());
  auto seal = vault->seal_status();
  BOOST_REQUIRE(seal.ok());
  BOOST_TEST(!seal->sealed);

  RoleSpec spec;
  spec.token_policies = std::vector<std::string>{"tier0"};
  spec.token_ttl = 600;
  BOOST_REQUIRE(vault->write_role(role("Agent-7"), spec).ok());
  auto read = vault->read_role(role("agent-7"));
  BOOST_REQUIRE(read.ok() && read->has_value());
  BOOST_TEST(((*read)->token_policies == std::vector<std::string>{"tier0"}));
  BOOST_TEST((*read)->token_ttl == 600);

  // The per-field endpoint stores the list through policyutil.ParsePolicies: trimmed,
  // lowercased, deduplicated, sorted.
  BOOST_REQUIRE(vault->write_role_policies(role("agent-7"), {"tier1", "Base", "tier1"}).ok());
  auto policies = vault->read_role_policies(role("agent-7"));
  BOOST_REQUIRE(policies.ok() && policies->has_value());
  BOOST_TEST((**policies == std::vector<std::string>{"base", "tier1"}));
  BOOST_TEST((*vault->read_role(role("agent-7")))->token_ttl == 600);  // per-field write kept it

  auto roles = vault->list_roles();
  BOOST_REQUIRE(roles.ok());
  BOOST_TEST(contains(*roles, "agent-7"));

  auto missing = vault->read_role(role("agent-missing"));
  BOOST_REQUIRE(missing.ok());
  BOOST_TEST(!missing->has_value());
  auto missing_policies = vault->read_role_policies(role("agent-missing"));
  BOOST_REQUIRE(missing_policies.ok());
  BOOST_TEST(!missing_policies->has_value());
  auto write_missing = vault->write_role_policies(role("agent-missing"), {"tier1"});
  BOOST_REQUIRE(!write_missing.ok());
  BOOST_TEST(code_of(write_missing.error()) == "role_missing");
  BOOST_TEST(action_of(write_missing.error()) == "give_up");
  BOOST_TEST(!vault->read_role(role("agent-missing"))->has_value());  // nothing was created

  auto no_ids = vault->list_secret_id_accessors(role("agent-7"));
  BOOST_REQUIRE(no_ids.ok());
  BOOST_TEST(no_ids->empty());

  auto [role_id, secret_id] = emu->make_approle(dir, "agent-7", json::object());
  auto login = vault->approle_login(Secret(role_id), Secret(secret_id));
  BOOST_REQUIRE_MESSAGE(login.ok(), (login.ok() ? std::string() : login.error().describe()));
  BOOST_TEST(login->client_token.reveal().rfind("hvs.", 0) == 0u);
  BOOST_TEST(contains(login->token_policies, "tier1"));
  BOOST_TEST(contains(login->policies, "default"));
  BOOST_TEST(login->metadata["role_name"] == "agent-7");
  BOOST_TEST(login->renewable);
  BOOST_TEST(login->lease_duration == 600);

  auto self = vault->lookup_self(login->client_token);
  BOOST_REQUIRE(self.ok());
  BOOST_TEST(self->ttl > 0);
  BOOST_TEST(self->accessor == login->accessor);
  BOOST_TEST(self->meta["role_name"] == "agent-7");
  auto renewed = vault->renew_self(login->client_token, seconds{0});
  BOOST_REQUIRE(renewed.ok());
  BOOST_TEST(renewed->lease_duration > 0);

  auto ids = vault->list_secret_id_accessors(role("agent-7"));
  BOOST_REQUIRE(ids.ok());
  BOOST_REQUIRE(ids->size() == 1u);
  auto accessors = vault->list_token_accessors();
  BOOST_REQUIRE(accessors.ok());
  BOOST_TEST(contains(*accessors, login->accessor));
  auto by_accessor = vault->lookup_token_accessor(login->accessor);
  BOOST_REQUIRE(by_accessor.ok());
  BOOST_TEST(by_accessor->meta["role_name"] == "agent-7");

  BOOST_REQUIRE(vault->destroy_secret_id_accessor(role("agent-7"), ids->front()).ok());
  BOOST_TEST(vault->list_secret_id_accessors(role("agent-7"))->empty());
  auto again = vault->destroy_secret_id_accessor(role("agent-7"), ids->front());
  BOOST_REQUIRE(!again.ok());
  BOOST_TEST(code_of(again.error()) == "not_found");

  BOOST_REQUIRE(vault->revoke_token_accessor(login->accessor).ok());
  auto dead = vault->lookup_self(login->client_token);
  BOOST_REQUIRE(!dead.ok());
  BOOST_TEST(code_of(dead.error()) == "invalid_token");
  BOOST_TEST(action_of(dead.error()) == "reauthenticate");
  BOOST_TEST(dead.error().message.find(login->client_token.reveal()) == std::string::npos);
}

BOOST_FIXTURE_TEST_CASE(sealed_vault_is_a_retryable_sealed_error, EmulatorFixture) {
  auto vault = root_client();
  emu->seal();
  auto r = vault->read_role_policies(role("agent-1"));
  BOOST_REQUIRE(!r.ok());
  BOOST_TEST(code_of(r.error()) == "sealed");
  BOOST_TEST(action_of(r.error()) == "retry");
  BOOST_TEST(r.error().http_status == 503);
  auto health = vault->health();
  BOOST_REQUIRE(health.ok());  // sys/health answers 503 with a body: a state, not an error
  BOOST_TEST(to_string(health->state) == "sealed");
  BOOST_TEST(vault->seal_status()->sealed);
  emu->unseal();
  BOOST_TEST(vault->read_role_policies(role("agent-1")).ok());
}

BOOST_FIXTURE_TEST_CASE(injected_statuses_map_to_their_classes, EmulatorFixture) {
  auto vault = root_client();
  struct Case {
    json fault;
    std::string code, action;
    std::optional<seconds> retry_after;
  };
  const std::vector<Case> cases = {
      {{{"status", 500}, {"errors", {"internal error"}}}, "server_error", "retry", {}},
      {{{"status", 502}}, "server_error", "retry", {}},
      {{{"status", 503}, {"errors", {"overloaded"}}}, "server_error", "retry", {}},
      {{{"status", 504}}, "server_error", "retry", {}},
      {{{"status", 501}}, "not_implemented", "give_up", {}},
      {{{"status", 429}, {"retry_after", 2}}, "rate_limited", "retry", seconds{2}},
      {{{"status", 429}}, "rate_limited", "retry", {}},
      {{{"status", 412}, {"errors", {"missing \"X-Vault-Request\" header"}}},
       "precondition_failed", "retry", {}},
      {{{"status", 400}, {"errors", {"invalid request"}}}, "invalid_request", "give_up", {}},
      {{{"status", 403}, {"errors", {"permission denied"}}}, "permission_denied", "give_up", {}},
      {{{"status", 403}, {"errors", {"permission denied", "invalid token"}}}, "invalid_token",
       "reauthenticate", {}},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.fault.dump()) {
      json fault = c.fault;
      fault["kind"] = "status";
      fault["count"] = 1;
      emu->fault(fault);
      auto r = vault->read_role_policies(role("agent-1"));
      BOOST_REQUIRE(!r.ok());
      BOOST_TEST(code_of(r.error()) == c.code);
      BOOST_TEST(action_of(r.error()) == c.action);
      BOOST_TEST(r.error().http_status == c.fault["status"].get<int>());
      BOOST_TEST((r.error().retry_after == c.retry_after));
      BOOST_TEST(vault->read_role_policies(role("agent-1")).ok());  // the fault was one-shot
    }
  }
}

BOOST_FIXTURE_TEST_CASE(hung_and_dropped_requests_are_retryable_and_the_client_recovers,
                        EmulatorFixture) {
  auto c = config();
  c.request_timeout = milliseconds{700};
  auto vault = factory(c)->make_client(
      std::make_shared<StaticTokenSource>(Secret(emu->options().root_token)));
  BOOST_REQUIRE(vault->list_roles().ok());

  emu->fault({{"kind", "hang"}, {"count", 1}, {"hang_ms", 3000}});
  auto hung = vault->list_roles();
  BOOST_REQUIRE(!hung.ok());
  BOOST_TEST(code_of(hung.error()) == "timeout");
  BOOST_TEST(action_of(hung.error()) == "retry");
  BOOST_TEST(vault->list_roles().ok());

  emu->fault({{"kind", "drop"}, {"count", 1}});
  auto dropped = vault->list_roles();
  BOOST_REQUIRE(!dropped.ok());
  BOOST_TEST(code_of(dropped.error()) == "transport");
  BOOST_TEST(action_of(dropped.error()) == "retry");
  BOOST_TEST(vault->list_roles().ok());
}

BOOST_FIXTURE_TEST_CASE(standby_answers_are_retryable, EmulatorFixture) {
  auto vault = root_client();
  emu->admin("POST", "/_emulator/standby",
             {{"mode", "redirect"}, {"leader_address", "https://127.0.0.1:1"}});
  auto redirected = vault->read_role(role("agent-1"));
  BOOST_REQUIRE(!redirected.ok());
  BOOST_TEST(code_of(redirected.error()) == "standby");
  BOOST_TEST(action_of(redirected.error()) == "retry");
  auto health = vault->health();
  BOOST_REQUIRE(health.ok());
  BOOST_TEST(to_string(health->state) == "standby");
  emu->admin("POST", "/_emulator/standby", {{"mode", "no_leader"}});
  auto leaderless = vault->read_role(role("agent-1"));
  BOOST_REQUIRE(!leaderless.ok());
  BOOST_TEST(leaderless.error().http_status == 503);
  BOOST_TEST(action_of(leaderless.error()) == "retry");
  emu->admin("POST", "/_emulator/standby", {{"mode", "off"}});
  BOOST_TEST(vault->read_role(role("agent-1")).ok());
}

BOOST_FIXTURE_TEST_CASE(policy_denial_and_bad_tokens_are_told_apart, EmulatorFixture) {
  emu->put_policy("roles-read-only",
                  {{"path", {{"auth/approle/role/agent-*", {{"capabilities", {"read"}}}}}}});
  auto [role_id, secret_id] =
      emu->make_approle(dir, "reader", {{"token_policies", {"roles-read-only"}}});
  auto root = root_client();
  BOOST_REQUIRE(root->write_role(role("agent-1"), RoleSpec{}).ok());
  auto login = root->approle_login(Secret(role_id), Secret(secret_id));
  BOOST_REQUIRE(login.ok());

  auto reader = client_with_token(login->client_token.reveal());
  BOOST_TEST(reader->read_role_policies(role("agent-1")).ok());
  auto denied = reader->write_role_policies(role("agent-1"), {"tier4"});
  BOOST_REQUIRE(!denied.ok());
  BOOST_TEST(code_of(denied.error()) == "permission_denied");
  BOOST_TEST(action_of(denied.error()) == "give_up");

  auto bogus = client_with_token("hvs.NotARealToken0000");
  auto rejected = bogus->read_role_policies(role("agent-1"));
  BOOST_REQUIRE(!rejected.ok());
  BOOST_TEST(code_of(rejected.error()) == "invalid_token");
  BOOST_TEST(action_of(rejected.error()) == "reauthenticate");

  auto bad_login = root->approle_login(Secret(role_id), Secret("not-the-secret-id"));
  BOOST_REQUIRE(!bad_login.ok());
  BOOST_TEST(code_of(bad_login.error()) == "invalid_request");
  BOOST_TEST(action_of(bad_login.error()) == "give_up");
}

BOOST_FIXTURE_TEST_CASE(invalid_requests_give_up, EmulatorFixture) {
  auto vault = root_client();
  RoleSpec bad_type;
  bad_type.token_type = "bogus";
  auto r = vault->write_role(role("agent-2"), bad_type);
  BOOST_REQUIRE(!r.ok());
  BOOST_TEST(code_of(r.error()) == "invalid_request");
  BOOST_TEST(r.error().http_status == 400);

  // AppRole's odd one: no constraint at all is a plain error, so HTTP 500, but not retryable.
  RoleSpec unconstrained;
  unconstrained.bind_secret_id = false;
  auto odd = vault->write_role(role("agent-3"), unconstrained);
  BOOST_REQUIRE(!odd.ok());
  BOOST_TEST(odd.error().http_status == 500);
  BOOST_TEST(code_of(odd.error()) == "invalid_request");
  BOOST_TEST(action_of(odd.error()) == "give_up");
}

BOOST_FIXTURE_TEST_CASE(an_unknown_mount_is_an_error_not_an_empty_answer, EmulatorFixture) {
  auto c = config();
  c.mount = "no-such-mount";
  auto tokens = std::make_shared<StaticTokenSource>(Secret(emu->options().root_token));
  auto vault = factory(c)->make_client(tokens);
  auto r = vault->read_role(role("agent-1"));
  BOOST_REQUIRE(!r.ok());
  BOOST_TEST(code_of(r.error()) == "not_found");
  BOOST_TEST(!r.error().message.empty());
}

BOOST_FIXTURE_TEST_CASE(one_keep_alive_connection_is_reused_across_many_calls, EmulatorFixture) {
  auto vault = root_client();
  BOOST_REQUIRE(vault->write_role(role("agent-1"), RoleSpec{}).ok());
  const auto before = emu->vault_requests().size();
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 300; ++i) {
    BOOST_REQUIRE(vault->write_role_policies(role("agent-1"), {"tier" + std::to_string(i % 5)})
                      .ok());
    BOOST_REQUIRE(vault->read_role_policies(role("agent-1")).ok());
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  BOOST_TEST(vault->connections_opened() == 1u);
  BOOST_TEST(emu->vault_requests().size() - before == 600u);
  BOOST_TEST_MESSAGE("600 requests on one connection in "
                     << std::chrono::duration_cast<milliseconds>(elapsed).count() << " ms");
}

BOOST_AUTO_TEST_CASE(the_request_header_is_sent_so_an_agent_style_listener_accepts_us) {
  EmulatorOptions strict;
  strict.require_request_header = true;
  EmulatorFixture f(strict);
  auto vault = f.root_client();
  BOOST_TEST(vault->list_roles().ok());
  BOOST_TEST(vault->health().ok());
  for (const auto& entry : f.emu->vault_requests()) BOOST_TEST(entry["status"] != 412);
}

BOOST_FIXTURE_TEST_CASE(retrying_api_rides_out_faults_on_the_backoff_schedule, EmulatorFixture) {
  auto vault = root_client();
  BOOST_REQUIRE(vault->write_role(role("agent-1"), RoleSpec{}).ok());
  emu->fault({{"kind", "status"}, {"count", 2}, {"status", 503}});
  emu->fault({{"kind", "status"}, {"count", 1}, {"status", 429}, {"retry_after", 5}});
  emu->fault({{"kind", "drop"}, {"count", 1}});
  SimulatedClock waits;  // the loop's waits are simulated; the requests are real
  std::vector<std::string> retried;
  RetryingVaultApi retrying(root_client(), waits, BackoffPolicy{}, [] { return 0.5; }, nullptr,
                            [&](const RetryEvent& e) { retried.push_back(code_of(e.error)); });
  auto r = retrying.write_role_policies(role("agent-1"), {"tier2"});
  BOOST_REQUIRE_MESSAGE(r.ok(), (r.ok() ? std::string() : r.error().describe()));
  std::vector<long> sleeps;
  for (auto d : waits.sleeps()) sleeps.push_back(static_cast<long>(d.count()));
  // 500, 1000, then Retry-After 5 s beats the 2 s backoff, then 4 s after the drop.
  std::vector<long> expected = {500, 1000, 5000, 4000};
  BOOST_TEST(sleeps == expected, boost::test_tools::per_element());
  std::vector<std::string> codes = {"server_error", "server_error", "rate_limited", "transport"};
  BOOST_TEST(retried == codes, boost::test_tools::per_element());
  BOOST_TEST((**vault->read_role_policies(role("agent-1")) == std::vector<std::string>{"tier2"}));
}

BOOST_FIXTURE_TEST_CASE(retrying_api_waits_out_a_sealed_vault, EmulatorFixture) {
  auto vault = root_client();
  BOOST_REQUIRE(vault->write_role(role("agent-1"), RoleSpec{}).ok());
  emu->seal();
  SimulatedClock waits;
  int retries = 0;
  RetryingVaultApi retrying(std::move(vault), waits, BackoffPolicy{}, [] { return 1.0; }, nullptr,
                            [&](const RetryEvent& e) {
                              BOOST_TEST(code_of(e.error) == "sealed");
                              if (++retries == 3) emu->unseal();
                            });
  BOOST_TEST(retrying.write_role_policies(role("agent-1"), {"tier3"}).ok());
  BOOST_TEST(retries == 3);
}

BOOST_FIXTURE_TEST_CASE(retrying_api_stops_at_max_attempts_and_on_give_up, EmulatorFixture) {
  emu->fault({{"kind", "status"}, {"count", 10}, {"status", 502}});
  SimulatedClock waits;
  BackoffPolicy p;
  p.max_attempts = 3;
  RetryingVaultApi retrying(root_client(), waits, p, [] { return 0.5; }, nullptr);
  auto r = retrying.list_roles();
  BOOST_REQUIRE(!r.ok());
  BOOST_TEST(r.error().http_status == 502);
  BOOST_TEST(waits.sleeps().size() == 2u);
  emu->clear_faults();
  auto gone = retrying.write_role_policies(role("agent-none"), {"x"});
  BOOST_REQUIRE(!gone.ok());
  BOOST_TEST(code_of(gone.error()) == "role_missing");
  BOOST_TEST(waits.sleeps().size() == 2u);  // give_up: no further wait
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace ps::vault
