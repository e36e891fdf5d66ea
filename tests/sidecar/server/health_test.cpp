// Health logic with fake probes and a simulated clock: which failures degrade, which fail,
// and what the HTTP status is.
#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include "tests/support/simulated_clock.h"
#include "sidecar/server/health.h"

using ps::Code;
using ps::Result;
using ps::Status;

using namespace ps::sidecar::server;
using namespace std::chrono_literals;

namespace {

ps::vault::Health health_in(ps::vault::HealthState state) {
  ps::vault::Health h;
  h.state = state;
  h.sealed = state == ps::vault::HealthState::sealed;
  h.initialized = true;
  return h;
}

ps::vault::TokenStatus valid_token() {
  ps::vault::TokenStatus t;
  t.has_token = true;
  t.valid = true;
  t.ttl_known = true;
  t.expires = true;
  t.ttl = 3600s;
  return t;
}

struct Fakes {
  ps::SimulatedClock clock;
  CheckResult ledger{HealthStatus::ok, "readable"};
  ps::vault::Result<ps::vault::Health> vault = health_in(ps::vault::HealthState::active);
  int vault_calls = 0;
  ps::vault::TokenStatus token = valid_token();
  ps::Result<ps::engine::OutboxStats> outbox = ps::engine::OutboxStats{};

  HealthChecker checker() {
    HealthProbes p;
    p.ledger = [this] { return ledger; };
    p.vault_health = [this] {
      ++vault_calls;
      return vault;
    };
    p.token = [this] { return token; };
    p.outbox = [this] { return outbox; };
    return HealthChecker(p, clock, 600s);
  }
};

std::string check_status(const HealthReport& r, const std::string& name) {
  for (const auto& [n, c] : r.checks) {
    if (n == name) return to_string(c.status);
  }
  return "absent";
}

}  // namespace

BOOST_AUTO_TEST_SUITE(health)

BOOST_AUTO_TEST_CASE(all_checks_passing_is_ok_with_200) {
  Fakes f;
  auto c = f.checker();
  c.probe_vault();
  const HealthReport r = c.check();
  BOOST_TEST(to_string(r.status) == std::string("ok"));
  BOOST_TEST(r.http_status() == 200);
  const auto j = nlohmann::json::parse(r.json("1.0", true));
  BOOST_TEST(j["status"] == "ok");
  BOOST_TEST(j["version"] == "1.0");
  BOOST_TEST(j["checks"].size() == 4u);
  BOOST_TEST(j["checks"]["token"]["reason"] == "valid, 3600s left");
}

BOOST_AUTO_TEST_CASE(an_unreadable_ledger_fails_with_503) {
  Fakes f;
  f.ledger = {HealthStatus::failed, "cannot open the ledger"};
  auto c = f.checker();
  c.probe_vault();
  const HealthReport r = c.check();
  BOOST_TEST(to_string(r.status) == std::string("failed"));
  BOOST_TEST(r.http_status() == 503);
  BOOST_TEST(check_status(r, "outbox") == "failed");
}

BOOST_AUTO_TEST_CASE(sealed_or_unreachable_vault_degrades_but_answers_200) {
  Fakes f;
  f.vault = health_in(ps::vault::HealthState::sealed);
  auto c = f.checker();
  c.probe_vault();
  HealthReport r = c.check();
  BOOST_TEST(to_string(r.status) == std::string("degraded"));
  BOOST_TEST(r.http_status() == 200);
  BOOST_TEST(r.checks[1].second.reason.find("sealed") != std::string::npos);
  f.vault = ps::vault::Error::make(ps::vault::ErrorCode::transport, ps::vault::Action::retry,
                                   "connection refused");
  c.probe_vault();
  r = c.check();
  BOOST_TEST(check_status(r, "vault") == "degraded");
  BOOST_TEST(r.checks[1].second.reason.find("unreachable") == 0u);
  f.vault = health_in(ps::vault::HealthState::standby);
  c.probe_vault();
  BOOST_TEST(check_status(c.check(), "vault") == "ok");
}

BOOST_AUTO_TEST_CASE(vault_is_asked_only_by_the_background_probe) {
  Fakes f;
  auto c = f.checker();
  BOOST_TEST(check_status(c.check(), "vault") == "degraded");  // not probed yet
  BOOST_TEST(f.vault_calls == 0);
  c.probe_vault();
  for (int i = 0; i < 5; ++i) (void)c.check();
  BOOST_TEST(f.vault_calls == 1);
}

BOOST_AUTO_TEST_CASE(a_probe_that_hangs_degrades_vault_although_its_last_answer_was_fine) {
  ps::SimulatedClock clock;
  HealthChecker* self = nullptr;
  std::string seen_during_probe;
  HealthProbes p;
  p.ledger = [] { return CheckResult{HealthStatus::ok, "readable"}; };
  int calls = 0;
  p.vault_health = [&]() -> ps::vault::Result<ps::vault::Health> {
    if (++calls == 2) {
      // The second probe "hangs": time passes while it waits; health asked meanwhile.
      clock.advance(4s);
      seen_during_probe += to_string(self->check().checks[1].second.status);
      clock.advance(2s);
      const auto r = self->check();
      seen_during_probe += std::string(" ") + to_string(r.checks[1].second.status) + " " + r.checks[1].second.reason;
    }
    return health_in(ps::vault::HealthState::active);
  };
  HealthChecker c(p, clock, 600s, 5s);
  self = &c;
  c.probe_vault();
  c.probe_vault();
  BOOST_TEST(seen_during_probe.find("ok degraded not answering: the health probe has waited 6s") == 0u,
             seen_during_probe);
  BOOST_TEST(to_string(c.check().checks[1].second.status) == std::string("ok"));
}

BOOST_AUTO_TEST_CASE(missing_or_rejected_token_degrades) {
  Fakes f;
  f.token.valid = false;
  auto c = f.checker();
  c.probe_vault();
  BOOST_TEST(check_status(c.check(), "token") == "degraded");
  f.token = {};
  f.token.last_error = ps::vault::Error::make(ps::vault::ErrorCode::auth_unavailable,
                                              ps::vault::Action::retry, "login failed");
  const CheckResult t = HealthChecker::token_check(f.token);
  BOOST_TEST(to_string(t.status) == std::string("degraded"));
  BOOST_TEST(t.reason.find("login failed") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(outbox_is_stuck_once_the_oldest_pending_change_passes_the_threshold) {
  Fakes f;
  ps::engine::OutboxStats s;
  s.pending = 3;
  s.oldest_pending_since = f.clock.wall_now();
  f.outbox = s;
  auto c = f.checker();
  c.probe_vault();
  f.clock.advance(600s);
  BOOST_TEST(check_status(c.refresh(), "outbox") == "ok");  // exactly at the threshold
  f.clock.advance(1s);
  BOOST_TEST(check_status(c.check(), "outbox") == "ok");  // answered from the last refresh
  const HealthReport r = c.refresh();
  BOOST_TEST(check_status(r, "outbox") == "degraded");
  BOOST_TEST(r.checks[3].second.reason.find("stuck: the oldest pending change is 601s old") == 0u,
             r.checks[3].second.reason);
}

BOOST_AUTO_TEST_CASE(parked_rows_degrade_until_someone_acts) {
  ps::engine::OutboxStats s;
  s.failed = 2;
  const CheckResult c = HealthChecker::outbox_check(s, ps::SimulatedClock().wall_now(), 600s);
  BOOST_TEST(to_string(c.status) == std::string("degraded"));
  BOOST_TEST(c.reason.find("2 parked") == 0u);
}

BOOST_AUTO_TEST_CASE(checks_that_do_not_apply_are_left_out) {
  ps::SimulatedClock clock;
  HealthProbes p;
  p.ledger = [] { return CheckResult{HealthStatus::ok, "readable"}; };
  HealthChecker c(p, clock, 600s);
  const HealthReport r = c.check();
  BOOST_TEST(r.checks.size() == 1u);
  BOOST_TEST(to_string(r.status) == std::string("ok"));
}

BOOST_AUTO_TEST_CASE(requests_answer_from_the_cache_and_only_a_refresh_queries_the_ledger) {
  Fakes f;
  int outbox_reads = 0;
  HealthProbes p;
  p.ledger = [] { return CheckResult{HealthStatus::ok, "readable"}; };
  p.outbox = [&]() -> ps::Result<ps::engine::OutboxStats> {
    ++outbox_reads;
    return ps::engine::OutboxStats{};
  };
  HealthChecker c(p, f.clock, 600s);
  (void)c.refresh();
  for (int i = 0; i < 100; ++i) (void)c.check();
  BOOST_TEST(outbox_reads == 1);
  (void)c.refresh();
  BOOST_TEST(outbox_reads == 2);
}

BOOST_AUTO_TEST_CASE(unauthenticated_json_names_checks_without_reasons_or_version) {
  Fakes f;
  f.ledger = {HealthStatus::failed, "cannot open /secret/path/ledger.db"};
  auto c = f.checker();
  const std::string brief = c.refresh().json("1.0", false);
  BOOST_TEST(brief.find("/secret/path") == std::string::npos, brief);
  BOOST_TEST(brief.find("1.0") == std::string::npos, brief);
  const auto j = nlohmann::json::parse(brief);
  BOOST_TEST(j["checks"]["ledger"]["status"] == "failed");
  BOOST_TEST(!j["checks"]["ledger"].contains("reason"));
  BOOST_TEST(c.check().json("1.0", true).find("/secret/path") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(status_codes_follow_vault_style_parameters) {
  HealthReport r;
  r.status = HealthStatus::degraded;
  BOOST_TEST(r.http_status() == 200);
  auto codes = health_codes({{"degradedcode", "429"}, {"okcode", "204"}});
  BOOST_TEST_REQUIRE(codes.ok());
  BOOST_TEST(r.http_status(*codes) == 429);
  r.status = HealthStatus::ok;
  BOOST_TEST(r.http_status(*codes) == 204);
  r.status = HealthStatus::failed;
  BOOST_TEST(r.http_status(*codes) == 503);
  for (const char* bad : {"", "99", "600", "2x0", "+200", "0200", "1000"}) {
    BOOST_TEST(!health_codes({{"failedcode", bad}}).ok(), bad);
  }
}

BOOST_AUTO_TEST_SUITE_END()
