// AuthManager against a fake VaultApi and a SimulatedClock: renewal timing, re-login on
// rejection / failed renewal / capped TTL, backoff without floods, token files, and no secret
// in any log line.
#include <boost/test/unit_test.hpp>

#include <sys/stat.h>

#include <atomic>
#include <limits>
#include <thread>

#include "tests/support/fake_vault.h"
#include "tests/support/simulated_clock.h"
#include "tests/vault/test_support.h"
#include "vault/auth.h"

namespace ps::vault {
namespace {

using namespace ps::vault::testing;
using ps::testing::FakeVault;
using ps::testing::FakeVaultState;
using ps::testing::auth_info;
using ps::testing::http_error;
using ps::testing::token_info;
using ms = std::chrono::milliseconds;
using std::chrono::seconds;

const std::string kRoleId = "role-id-7f3a9c";
const std::string kSecretId = "secret-id-b41e22";
const std::string kTokenA = "hvs.token-aaaaaaaa";
const std::string kTokenB = "hvs.token-bbbbbbbb";
const std::string kTokenC = "hvs.token-cccccccc";

struct Fixture {
  TempDir dir;
  SimulatedClock clock;
  LogCapture logs;
  std::shared_ptr<FakeVaultState> script = std::make_shared<FakeVaultState>();
  AuthConfig config;

  Fixture() {
    write_file(dir.file("role_id"), kRoleId + "\n");
    write_file(dir.file("secret_id"), kSecretId);
    config.method = AuthMethod::approle;
    config.role_id_file = dir.file("role_id");
    config.secret_id_file = dir.file("secret_id");
  }
  ~Fixture() {
    std::string leak = logs.find_any({kRoleId, kSecretId, kTokenA, kTokenB, kTokenC});
    BOOST_CHECK_MESSAGE(leak.empty(), "secret in a log line: " << leak);
  }
  std::unique_ptr<AuthManager> make() {
    return std::make_unique<AuthManager>(config, std::make_unique<FakeVault>(script), clock,
                                         [] { return 0.5; }, logs.fn());
  }
  // Milliseconds from now to `t`.
  long in_ms(Clock::SteadyTime t) const {
    return static_cast<long>(std::chrono::duration_cast<ms>(t - clock.steady_now()).count());
  }
};

void check_no_secret(const Error& e) {
  for (const auto& s : {kRoleId, kSecretId, kTokenA, kTokenB, kTokenC}) {
    BOOST_TEST(e.message.find(s) == std::string::npos);
  }
}

BOOST_AUTO_TEST_SUITE(vault_auth_manager)

BOOST_FIXTURE_TEST_CASE(approle_logs_in_on_first_use_and_renews_at_two_thirds_of_the_ttl,
                        Fixture) {
  script->logins = {auth_info(kTokenA, 3600)};
  script->renewals = {auth_info(kTokenA, 3600)};
  auto auth = make();
  auto grant = auth->current_token();
  BOOST_REQUIRE(grant.ok());
  BOOST_TEST(grant->token.reveal() == kTokenA);
  BOOST_TEST(grant->generation == 1u);
  BOOST_TEST((script->credentials == std::vector<std::string>{kRoleId + ":" + kSecretId}));

  // 3600 s * 2/3 * (1 - 0.1 * 0.5) = 2280 s.
  auto due = auth->tick();
  BOOST_TEST(std::abs(in_ms(due) - 2280000) <= 1);
  BOOST_TEST(script->count("renew_self") == 0u);
  auto st = auth->status();
  BOOST_TEST(st.valid);
  BOOST_TEST(st.ttl.count() == 3600);
  BOOST_TEST(st.renewable);
  BOOST_TEST((st.expires_at == clock.wall_now() + seconds{3600}));

  clock.advance(ms{2279000});
  auth->tick();
  BOOST_TEST(script->count("renew_self") == 0u);  // not yet
  clock.advance(ms{1001});
  due = auth->tick();
  BOOST_TEST(script->count("renew_self") == 1u);
  BOOST_TEST(script->tokens_used.back() == kTokenA);
  BOOST_TEST(std::abs(in_ms(due) - 2280000) <= 1);
  BOOST_TEST(auth->status().renewals == 1u);
  BOOST_TEST(auth->current_token()->generation == 1u);  // same token, renewed
  BOOST_TEST(script->count("login") == 1u);
}

BOOST_FIXTURE_TEST_CASE(a_renewal_capped_by_max_ttl_leads_to_a_new_login_before_expiry,
                        Fixture) {
  script->logins = {auth_info(kTokenA, 3600), auth_info(kTokenB, 3600)};
  script->renewals = {auth_info(kTokenA, 1000)};  // max TTL reached: less than a third
  auto auth = make();
  BOOST_REQUIRE(auth->current_token().ok());
  clock.advance(ms{2280000});
  auto due = auth->tick();
  BOOST_TEST(script->count("renew_self") == 1u);
  // Re-login at 1000 s * 2/3 * 0.95 = 633.3 s, well before the 1000 s expiry.
  BOOST_TEST(std::abs(in_ms(due) - 633333) <= 1);
  clock.advance(ms{633334});
  auth->tick();
  BOOST_TEST(script->count("login") == 2u);
  auto grant = auth->current_token();
  BOOST_TEST(grant->token.reveal() == kTokenB);
  BOOST_TEST(grant->generation == 2u);
}

BOOST_FIXTURE_TEST_CASE(a_rejected_token_triggers_one_login_shared_by_all_callers, Fixture) {
  script->logins = {auth_info(kTokenA, 3600), auth_info(kTokenB, 3600)};
  auto auth = make();
  BOOST_REQUIRE(auth->current_token().ok());
  BOOST_REQUIRE(auth->reauthenticate(1).ok());
  BOOST_TEST(script->count("login") == 2u);
  BOOST_TEST(auth->current_token()->token.reveal() == kTokenB);
  // Another caller that saw generation 1 rejected gets the new token without a login.
  BOOST_REQUIRE(auth->reauthenticate(1).ok());
  BOOST_TEST(script->count("login") == 2u);
  BOOST_TEST(auth->status().logins == 2u);
}

BOOST_FIXTURE_TEST_CASE(concurrent_rejections_cause_exactly_one_login, Fixture) {
  script->logins = {auth_info(kTokenA, 3600), auth_info(kTokenB, 3600),
                    auth_info(kTokenC, 3600)};
  auto auth = make();
  BOOST_REQUIRE(auth->current_token().ok());
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      if (auth->reauthenticate(1).ok()) ++ok;
      auto grant = auth->current_token();
      if (!grant.ok() || grant->generation != 2u) --ok;
    });
  }
  for (auto& t : threads) t.join();
  BOOST_TEST(ok.load() == 8);
  BOOST_TEST(script->count("login") == 2u);
}

BOOST_FIXTURE_TEST_CASE(failed_logins_back_off_and_never_flood_vault, Fixture) {
  script->logins = {classify_transport(TransportFailure::connection, "refused")};
  auto auth = make();
  // Many callers at one instant: one login attempt; the others are told when to come back.
  for (int i = 0; i < 100; ++i) {
    auto grant = auth->current_token();
    BOOST_REQUIRE(!grant.ok());
    BOOST_TEST(to_string(grant.error().code) == "auth_unavailable");
    BOOST_TEST(to_string(grant.error().action) == "retry");
    BOOST_TEST(grant.error().retry_after.has_value());
    check_no_secret(grant.error());
  }
  BOOST_TEST(script->count("login") == 1u);
  // Backoff with random 0.5: 500 ms, 1 s, 2 s, 4 s ... each attempt only once it is due.
  std::vector<long> gaps = {500, 1000, 2000, 4000, 8000};
  for (long gap : gaps) {
    clock.advance(ms{gap - 1});
    (void)auth->current_token();
    (void)auth->reauthenticate(0);
    auto before = script->count("login");
    clock.advance(ms{1});
    auto due = auth->tick();
    BOOST_TEST(script->count("login") == before + 1);
    BOOST_TEST(in_ms(due) == gap * 2);
  }
  BOOST_TEST(script->count("login") == 6u);
  auto st = auth->status();
  BOOST_TEST(!st.valid);
  BOOST_TEST(st.consecutive_failures == 6u);
  BOOST_REQUIRE(st.last_error.has_value());
  BOOST_TEST(st.last_error->message.find("AppRole login") != std::string::npos);
}

BOOST_FIXTURE_TEST_CASE(bad_credentials_keep_backing_off_without_giving_up, Fixture) {
  script->logins = {http_error(400, {"invalid role or secret ID"}), auth_info(kTokenA, 60)};
  auto auth = make();
  auto first = auth->current_token();
  BOOST_REQUIRE(!first.ok());
  BOOST_TEST(to_string(first.error().action) == "retry");
  BOOST_TEST(first.error().message.find("invalid role or secret ID") != std::string::npos);
  check_no_secret(first.error());
  clock.advance(ms{500});
  BOOST_TEST(auth->current_token().ok());
}

BOOST_FIXTURE_TEST_CASE(renewal_rejected_as_invalid_token_logs_in_again, Fixture) {
  script->logins = {auth_info(kTokenA, 3600), auth_info(kTokenB, 3600)};
  script->renewals = {http_error(403, {"permission denied", "invalid token"})};
  auto auth = make();
  BOOST_REQUIRE(auth->current_token().ok());
  clock.advance(ms{2280001});
  auth->tick();
  BOOST_TEST(script->count("renew_self") == 1u);
  BOOST_TEST(script->count("login") == 2u);
  BOOST_TEST(auth->current_token()->token.reveal() == kTokenB);
}

BOOST_FIXTURE_TEST_CASE(a_transient_renewal_failure_is_retried_after_backoff, Fixture) {
  script->logins = {auth_info(kTokenA, 3600)};
  script->renewals = {http_error(503, {"Vault is sealed"}), auth_info(kTokenA, 3600)};
  auto auth = make();
  BOOST_REQUIRE(auth->current_token().ok());
  clock.advance(ms{2280001});
  auto due = auth->tick();
  BOOST_TEST(script->count("renew_self") == 1u);
  BOOST_TEST(in_ms(due) == 500);
  BOOST_TEST(auth->current_token()->token.reveal() == kTokenA);  // still usable meanwhile
  clock.advance(ms{500});
  auth->tick();
  BOOST_TEST(script->count("renew_self") == 2u);
  BOOST_TEST(script->count("login") == 1u);
  BOOST_TEST(auth->status().consecutive_failures == 0u);
}

BOOST_FIXTURE_TEST_CASE(a_renewal_that_cannot_succeed_logs_in_again, Fixture) {
  script->logins = {auth_info(kTokenA, 3600), auth_info(kTokenB, 3600)};
  script->renewals = {
      Error::make(ErrorCode::role_missing, Action::give_up, "role does not exist during renewal",
                  500)};
  auto auth = make();
  BOOST_REQUIRE(auth->current_token().ok());
  clock.advance(ms{2280001});
  auth->tick();  // renewal fails for good
  auth->tick();  // re-login is due at once
  BOOST_TEST(script->count("login") == 2u);
  BOOST_TEST(auth->current_token()->token.reveal() == kTokenB);
}

BOOST_FIXTURE_TEST_CASE(missing_credential_files_are_reported_by_path_and_backed_off,
                        Fixture) {
  config.secret_id_file = dir.file("absent");
  auto auth = make();
  auto grant = auth->current_token();
  BOOST_REQUIRE(!grant.ok());
  BOOST_TEST(grant.error().message.find("absent") != std::string::npos);
  BOOST_TEST(script->count("login") == 0u);
  write_file(dir.file("absent"), kSecretId + "\n");
  script->logins = {auth_info(kTokenA, 60)};
  BOOST_TEST(!auth->current_token().ok());  // still inside the backoff window
  clock.advance(ms{500});
  BOOST_TEST(auth->current_token().ok());
}

BOOST_FIXTURE_TEST_CASE(private_files_can_be_required, Fixture) {
  config.require_private_files = true;
  ::chmod(config.role_id_file.c_str(), 0644);
  auto auth = make();
  auto grant = auth->current_token();
  BOOST_REQUIRE(!grant.ok());
  BOOST_TEST(grant.error().message.find("group or others") != std::string::npos);
  ::chmod(config.role_id_file.c_str(), 0600);
  ::chmod(config.secret_id_file.c_str(), 0600);
  script->logins = {auth_info(kTokenA, 60)};
  clock.advance(ms{500});
  BOOST_TEST(auth->current_token().ok());
}

BOOST_FIXTURE_TEST_CASE(a_fixed_token_is_looked_up_renewed_and_never_replaced, Fixture) {
  config.method = AuthMethod::token;
  config.token = Secret(kTokenA);
  script->lookups = {token_info(1800, true, 3600)};
  script->renewals = {auth_info(kTokenA, 3600)};
  auto auth = make();
  BOOST_TEST(auth->current_token()->token.reveal() == kTokenA);
  auto due = auth->tick();  // lookup-self
  BOOST_TEST(script->count("lookup_self") == 1u);
  BOOST_TEST(std::abs(in_ms(due) - 1140000) <= 1);  // 1800 * 2/3 * 0.95
  BOOST_TEST(auth->status().ttl.count() == 1800);
  clock.advance(ms{1140001});
  auth->tick();
  BOOST_TEST(script->count("renew_self") == 1u);

  // Once Vault rejects it, nothing can replace it: no login, a retryable auth error.
  auto again = auth->reauthenticate(1);
  BOOST_REQUIRE(!again.ok());
  BOOST_TEST(to_string(again.error().code) == "auth_unavailable");
  check_no_secret(again.error());
  BOOST_TEST(!auth->current_token().ok());
  BOOST_TEST(!auth->status().valid);
  BOOST_TEST(script->count("login") == 0u);
}

BOOST_FIXTURE_TEST_CASE(a_token_without_ttl_is_never_renewed, Fixture) {
  config.method = AuthMethod::token;
  config.token = Secret(kTokenA);
  script->lookups = {token_info(0, false)};
  auto auth = make();
  BOOST_REQUIRE(auth->current_token().ok());
  auto due = auth->tick();
  BOOST_TEST(in_ms(due) == 60000);  // only the periodic wake-up
  auto st = auth->status();
  BOOST_TEST(st.valid);
  BOOST_TEST(st.ttl_known);
  BOOST_TEST(!st.expires);
  clock.advance(std::chrono::hours{48});
  auth->tick();
  BOOST_TEST(script->count("renew_self") == 0u);
}

BOOST_FIXTURE_TEST_CASE(token_file_is_reread_when_vault_agent_replaces_it, Fixture) {
  config.method = AuthMethod::token_file;
  config.token_file = dir.file("sink");
  config.token_file_check_interval = ms{1000};
  write_file(config.token_file, kTokenA + "\n");
  script->lookups = {token_info(600, true)};
  auto auth = make();
  auto first = auth->current_token();
  BOOST_REQUIRE(first.ok());
  BOOST_TEST(first->token.reveal() == kTokenA);  // trailing newline dropped
  BOOST_TEST(first->generation == 1u);

  replace_file(config.token_file, kTokenB);
  BOOST_TEST(auth->current_token()->token.reveal() == kTokenA);  // not checked again yet
  clock.advance(ms{1000});
  auto second = auth->current_token();
  BOOST_TEST(second->token.reveal() == kTokenB);
  BOOST_TEST(second->generation == 2u);

  // Rejected while the file still holds the same token: wait for the agent, no flood.
  auto rejected = auth->reauthenticate(2);
  BOOST_REQUIRE(!rejected.ok());
  BOOST_TEST(to_string(rejected.error().action) == "retry");
  BOOST_TEST(rejected.error().message.find("waiting for Vault Agent") != std::string::npos);
  check_no_secret(rejected.error());
  replace_file(config.token_file, kTokenC + "\n");
  clock.advance(ms{500});
  BOOST_REQUIRE(auth->reauthenticate(2).ok());
  BOOST_TEST(auth->current_token()->token.reveal() == kTokenC);
  // The agent renews its token: the sidecar only looks it up.
  auth->tick();
  clock.advance(ms{400000});
  auth->tick();
  BOOST_TEST(script->count("renew_self") == 0u);
  BOOST_TEST(script->count("lookup_self") >= 2u);
  BOOST_TEST(script->count("login") == 0u);
}

BOOST_FIXTURE_TEST_CASE(run_keeps_renewing_until_told_to_stop, Fixture) {
  script->logins = {auth_info(kTokenA, 30)};
  script->renewals = {auth_info(kTokenA, 30)};
  auto auth = make();
  const auto start = clock.steady_now();
  auth->run([&] { return clock.steady_now() - start >= seconds{200}; }, ms{1000});
  // 200 one-second slices = 200 s; a renewal every 30 * 2/3 * 0.95 = 19 s.
  BOOST_TEST(script->count("login") == 1u);
  BOOST_TEST(script->count("renew_self") >= 9u);
  BOOST_TEST(script->count("renew_self") <= 11u);
}

// `now + seconds{ttl}` must not overflow on a huge TTL: whatever a VaultApi hands over, the TTL
// is clamped before it is added.
BOOST_FIXTURE_TEST_CASE(a_huge_ttl_is_clamped_before_it_is_added_to_now, Fixture) {
  script->logins = {auth_info(kTokenA, std::numeric_limits<std::int64_t>::max())};
  auto auth = make();
  BOOST_REQUIRE(auth->current_token().ok());
  auto st = auth->status();
  BOOST_TEST(st.valid);
  BOOST_TEST(st.ttl.count() == kMaxTtlSeconds);
  BOOST_TEST((st.expires_at == clock.wall_now() + seconds{kMaxTtlSeconds}));
  // Renewal is scheduled in the future (2/3 of 100 years), not at once.
  BOOST_TEST(in_ms(auth->tick()) > 0);
  BOOST_TEST(script->count("renew_self") == 0u);
}

BOOST_AUTO_TEST_CASE(static_token_source_cannot_reauthenticate) {
  StaticTokenSource source(Secret("hvs.x"));
  BOOST_TEST(source.current_token()->token.reveal() == "hvs.x");
  auto r = source.reauthenticate(1);
  BOOST_REQUIRE(!r.ok());
  BOOST_TEST(to_string(r.error().action) == "give_up");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace ps::vault
