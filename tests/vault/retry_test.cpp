// The retry loop against scripted results and a SimulatedClock: exact schedules, Retry-After,
// stop rules, give_up, and re-authentication once.
#include <boost/test/unit_test.hpp>

#include <deque>

#include "tests/support/simulated_clock.h"
#include "vault/retry.h"

using ps::Code;
using ps::Result;
using ps::Status;

namespace ps::vault {
namespace {

using ms = std::chrono::milliseconds;
using std::chrono::seconds;

Error retryable(std::optional<seconds> retry_after = std::nullopt) {
  Error e = Error::make(ErrorCode::server_error, Action::retry, "boom", 502);
  e.retry_after = retry_after;
  return e;
}
Error invalid_token(std::uint64_t generation) {
  Error e = Error::make(ErrorCode::invalid_token, Action::reauthenticate, "invalid token", 403);
  e.token_generation = generation;
  return e;
}

// Returns scripted results in order; the last one repeats.
struct Script {
  std::deque<Result<int>> results;
  int calls = 0;
  Result<int> operator()() {
    ++calls;
    Result<int> r = results.front();
    if (results.size() > 1) results.pop_front();
    return r;
  }
};

struct FakeTokens final : TokenSource {
  std::deque<Result<void>> answers;
  std::vector<std::uint64_t> reauth_calls;
  Result<TokenGrant> current_token() override { return TokenGrant{Secret("t"), 1}; }
  Result<void> reauthenticate(std::uint64_t generation) override {
    reauth_calls.push_back(generation);
    Result<void> r = answers.front();
    if (answers.size() > 1) answers.pop_front();
    return r;
  }
};

std::vector<long> sleeps(const SimulatedClock& clock) {
  std::vector<long> out;
  for (auto d : clock.sleeps()) out.push_back(static_cast<long>(d.count()));
  return out;
}

RetryContext context(SimulatedClock& clock, BackoffPolicy policy, double random,
                     TokenSource* tokens = nullptr) {
  return RetryContext{clock, policy, [random] { return random; }, tokens, {}, {}};
}

BOOST_AUTO_TEST_SUITE(vault_retry_loop)

BOOST_AUTO_TEST_CASE(retries_with_the_exact_backoff_schedule_until_success) {
  SimulatedClock clock;
  Script script{{retryable(), retryable(), retryable(), 42}};
  auto result = retry_call(context(clock, BackoffPolicy{}, 0.5), Operation::read_role,
                           std::ref(script));
  BOOST_REQUIRE(result.ok());
  BOOST_TEST(*result == 42);
  BOOST_TEST(script.calls == 4);
  std::vector<long> expected = {500, 1000, 2000};
  BOOST_TEST(sleeps(clock) == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(retry_after_wins_when_longer_than_the_backoff) {
  SimulatedClock clock;
  Script script{{retryable(seconds{7}), retryable(seconds{0}), 1}};
  auto result = retry_call(context(clock, BackoffPolicy{}, 0.5), Operation::write_role_policies,
                           std::ref(script));
  BOOST_REQUIRE(result.ok());
  std::vector<long> expected = {7000, 1000};
  BOOST_TEST(sleeps(clock) == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(retry_after_is_capped_by_max_retry_after) {
  SimulatedClock clock;
  BackoffPolicy p;
  p.max_retry_after = ms{60000};
  Script script{{retryable(seconds{86400}), 1}};
  auto result = retry_call(context(clock, p, 0.5), Operation::list_roles, std::ref(script));
  BOOST_REQUIRE(result.ok());
  std::vector<long> expected = {60000};
  BOOST_TEST(sleeps(clock) == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(stops_before_a_wait_that_would_pass_max_total) {
  SimulatedClock clock;
  BackoffPolicy p;
  p.max_total = ms{5000};
  Script script{{retryable()}};
  auto result = retry_call(context(clock, p, 1.0), Operation::read_role, std::ref(script));
  BOOST_REQUIRE(!result.ok());
  BOOST_TEST(to_string(result.error().code) == "server_error");
  // 1000 + 2000 = 3000 fits; + 4000 would end at 7000 > 5000.
  std::vector<long> expected = {1000, 2000};
  BOOST_TEST(sleeps(clock) == expected, boost::test_tools::per_element());
  BOOST_TEST(script.calls == 3);
}

BOOST_AUTO_TEST_CASE(max_total_counts_time_spent_in_attempts_too) {
  SimulatedClock clock;
  BackoffPolicy p;
  p.max_total = ms{5000};
  int calls = 0;
  auto slow = [&]() -> Result<int> {
    ++calls;
    clock.advance(ms{2000});  // each attempt takes 2 s (a timeout, say)
    return retryable();
  };
  auto result = retry_call(context(clock, p, 1.0), Operation::read_role, slow);
  BOOST_REQUIRE(!result.ok());
  // t=2000 after attempt 1, +1000 wait = 3000 <= 5000; attempt 2 ends at 5000; +2000 > 5000.
  BOOST_TEST(calls == 2);
  std::vector<long> expected = {1000};
  BOOST_TEST(sleeps(clock) == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(stops_after_max_attempts) {
  SimulatedClock clock;
  BackoffPolicy p;
  p.max_attempts = 4;
  Script script{{retryable()}};
  auto result = retry_call(context(clock, p, 0.5), Operation::read_role, std::ref(script));
  BOOST_REQUIRE(!result.ok());
  BOOST_TEST(script.calls == 4);
  BOOST_TEST(clock.sleeps().size() == 3u);
}

BOOST_AUTO_TEST_CASE(forever_means_forever_with_delays_held_at_the_cap) {
  SimulatedClock clock;
  Script script;
  for (int i = 0; i < 50; ++i) script.results.push_back(retryable());
  script.results.emplace_back(7);  // push_back(7) moves a temporary: GCC 12 -Wmaybe-uninitialized
  auto result = retry_call(context(clock, BackoffPolicy{}, 1.0), Operation::read_role,
                           std::ref(script));
  BOOST_REQUIRE(result.ok());
  auto s = sleeps(clock);
  BOOST_TEST(s.size() == 50u);
  BOOST_TEST(s.back() == 300000);
}

BOOST_AUTO_TEST_CASE(give_up_stops_at_once) {
  SimulatedClock clock;
  Script script{{Error::make(ErrorCode::permission_denied, Action::give_up, "denied", 403), 1}};
  auto result = retry_call(context(clock, BackoffPolicy{}, 0.5), Operation::write_role_policies,
                           std::ref(script));
  BOOST_REQUIRE(!result.ok());
  BOOST_TEST(to_string(result.error().code) == "permission_denied");
  BOOST_TEST(script.calls == 1);
  BOOST_TEST(clock.sleeps().empty());
}

BOOST_AUTO_TEST_CASE(invalid_token_reauthenticates_once_and_retries_without_waiting) {
  SimulatedClock clock;
  FakeTokens tokens;
  tokens.answers = {Result<void>{}};
  BackoffPolicy p;
  p.max_attempts = 1;  // the re-authenticated retry is allowed even so
  Script script{{invalid_token(3), 9}};
  auto result = retry_call(context(clock, p, 0.5, &tokens), Operation::read_role_policies,
                           std::ref(script));
  BOOST_REQUIRE(result.ok());
  BOOST_TEST(*result == 9);
  BOOST_TEST((tokens.reauth_calls == std::vector<std::uint64_t>{3}));
  BOOST_TEST(clock.sleeps().empty());
}

BOOST_AUTO_TEST_CASE(a_second_rejection_after_reauthentication_is_returned) {
  SimulatedClock clock;
  FakeTokens tokens;
  tokens.answers = {Result<void>{}};
  Script script{{invalid_token(1), invalid_token(2), 5}};
  auto result = retry_call(context(clock, BackoffPolicy{}, 0.5, &tokens), Operation::read_role,
                           std::ref(script));
  BOOST_REQUIRE(!result.ok());
  BOOST_TEST(to_string(result.error().code) == "invalid_token");
  BOOST_TEST(tokens.reauth_calls.size() == 1u);
  BOOST_TEST(script.calls == 2);
}

BOOST_AUTO_TEST_CASE(without_a_token_source_invalid_token_is_returned) {
  SimulatedClock clock;
  Script script{{invalid_token(1), 5}};
  auto result = retry_call(context(clock, BackoffPolicy{}, 0.5), Operation::lookup_self,
                           std::ref(script));
  BOOST_REQUIRE(!result.ok());
  BOOST_TEST(to_string(result.error().action) == "reauthenticate");
}

BOOST_AUTO_TEST_CASE(failed_reauthentication_backs_off_or_gives_up_as_it_says) {
  {
    SimulatedClock clock;
    FakeTokens tokens;
    Error later = Error::make(ErrorCode::auth_unavailable, Action::retry, "vault down");
    later.retry_after = seconds{3};
    tokens.answers = {later, Result<void>{}};
    Script script{{invalid_token(1), 8}};
    auto result = retry_call(context(clock, BackoffPolicy{}, 0.5, &tokens), Operation::read_role,
                             std::ref(script));
    BOOST_REQUIRE(result.ok());
    std::vector<long> expected = {3000};
    BOOST_TEST(sleeps(clock) == expected, boost::test_tools::per_element());
  }
  {
    SimulatedClock clock;
    FakeTokens tokens;
    tokens.answers = {Error::make(ErrorCode::auth_unavailable, Action::give_up, "no way")};
    Script script{{invalid_token(1), 8}};
    auto result = retry_call(context(clock, BackoffPolicy{}, 0.5, &tokens), Operation::read_role,
                             std::ref(script));
    BOOST_REQUIRE(!result.ok());
    BOOST_TEST(to_string(result.error().code) == "auth_unavailable");
    BOOST_TEST(clock.sleeps().empty());
  }
}

BOOST_AUTO_TEST_CASE(observer_sees_every_retry_and_should_stop_ends_the_loop) {
  SimulatedClock clock;
  std::vector<long> seen;
  int checks = 0;
  RetryContext ctx{clock, BackoffPolicy{}, [] { return 0.5; }, nullptr,
                   [&](const RetryEvent& e) {
                     BOOST_TEST(to_string(e.operation) == "list_roles");
                     seen.push_back(static_cast<long>(e.delay.count()));
                   },
                   [&] { return ++checks > 2; }};
  Script script{{retryable()}};
  auto result = retry_call(ctx, Operation::list_roles, std::ref(script));
  BOOST_REQUIRE(!result.ok());
  std::vector<long> expected = {500, 1000};
  BOOST_TEST(seen == expected, boost::test_tools::per_element());
  BOOST_TEST(script.calls == 3);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace ps::vault
