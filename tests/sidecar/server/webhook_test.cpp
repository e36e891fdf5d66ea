// The approval webhook's decision logic on a real ledger file: signature, parsing,
// authorization, promotion in one transaction with the outbox hook and the delivery record,
// idempotency (also concurrent and after a restart), denials, and refusals that change
// nothing.
#include <boost/test/unit_test.hpp>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/support/simulated_clock.h"
#include "engine/ledger/ledger.h"
#include "sidecar/config/config.h"
#include "sidecar/server/serve_events.h"
#include "sidecar/server/webhook.h"
#include "sidecar/sync/tier_change_service.h"
#include "tls/digest.h"
#include "tests/support/server_test_support.h"

using ps::Code;
using ps::Result;
using ps::Status;

using namespace ps::sidecar;
using namespace ps::sidecar::server;
using ps::testing::approval_body;
using ps::testing::dump_ledger;
using ps::testing::sign_approval;

namespace {

const std::string kKey = "0123456789abcdef0123456789abcdef";
const std::string kOldKey = "fedcba9876543210fedcba9876543210";

struct Fixture {
  ps::testing::TempDir dir;
  std::string db = dir.file("ledger.db");
  ps::SimulatedClock clock;
  std::mutex log_mu;
  std::vector<std::string> log_lines;
  Logger logger{[this](std::string_view l) {
                  std::lock_guard<std::mutex> lock(log_mu);
                  log_lines.emplace_back(l);
                },
                clock};
  std::string secret = ps::testing::make_secret(kKey);
  std::unique_ptr<ps::testing::RawLedger> raw;
  std::unique_ptr<SettingsStore> settings;
  std::unique_ptr<LedgerPool> pool;
  MetricsRegistry registry;
  ServeMetrics metrics{registry, "test"};
  std::unique_ptr<AuditLog> audit;
  std::unique_ptr<ServeEvents> events;
  std::shared_ptr<const DesiredState> desired;
  std::unique_ptr<TierChangeService> tier_changes;
  std::unique_ptr<ApprovalWebhook> processor;

  explicit Fixture(std::int64_t busy_timeout_ms = 5000) {
    ps::testing::create_ledger(db);
    raw = std::make_unique<ps::testing::RawLedger>(db);
    {
      auto l = ps::engine::Ledger::open({db, 5000, false});
      BOOST_REQUIRE(l.ok());
      BOOST_REQUIRE((*l)->migrate(clock.wall_now()).ok());
    }
    raw->exec("BEGIN");
    ps::testing::seed_ready_agent(*raw, "t0", 0, clock.wall_now());
    ps::testing::seed_ready_agent(*raw, "t2", 2, clock.wall_now());
    ps::testing::seed_ready_agent(*raw, "t3", 3, clock.wall_now());
    ps::testing::seed_new_agent(*raw, "new", 0);
    raw->exec("COMMIT");
    auto s = std::make_shared<ServeSettings>();
    s->rules = std::make_shared<const ps::engine::Rules>(ps::engine::Rules::defaults());
    s->webhook_secrets.push_back(WebhookSecret::parse(secret).value());
    s->webhook_secrets.push_back(WebhookSecret::parse(ps::testing::make_secret(kOldKey)).value());
    s->reviewers = {"rev"};
    s->admins = {"adm"};
    settings = std::make_unique<SettingsStore>(s);
    audit = std::move(AuditLog::open(dir.file("audit.jsonl"), clock).value());
    restart(busy_timeout_ms);
  }

  // A new pool and processor on the same files: what a restarted daemon has.
  void restart(std::int64_t busy_timeout_ms = 5000) {
    pool = std::make_unique<LedgerPool>(ps::engine::LedgerOptions{db, busy_timeout_ms, false});
    desired = DesiredState::create(RolesConfig{}, "approle").value();
    if (!events) events = std::make_unique<ServeEvents>(metrics, logger, audit.get());
    tier_changes = std::make_unique<TierChangeService>(
        TierChangeServiceDeps{*pool, *settings, clock, *events}, desired);
    processor = std::make_unique<ApprovalWebhook>(
        WebhookDeps{*pool, *settings, *tier_changes, clock, logger, audit.get(), &metrics});
  }

  // Every later write of an outbox row fails inside the tier change's transaction.
  void make_outbox_writes_fail() {
    raw->exec("CREATE TRIGGER outbox_fails BEFORE INSERT ON sidecar_outbox "
              "BEGIN SELECT RAISE(ABORT, 'outbox write failed'); END");
  }

  // The outbox rows: agent|tier|generation.
  std::vector<std::string> outbox() {
    return raw->rows("SELECT agent_id, tier, generation FROM sidecar_outbox ORDER BY agent_id");
  }

  std::int64_t now_unix() const {
    return std::chrono::duration_cast<std::chrono::seconds>(clock.wall_now().time_since_epoch()).count();
  }

  HttpAnswer send(const std::string& body, const std::string& id, std::int64_t ts_offset = 0,
                  const std::string& content_type = "application/json",
                  const std::string& key = kKey) {
    auto h = sign_approval(ps::testing::make_secret(key), id, now_unix() + ts_offset, body);
    return processor->handle({h.id, h.timestamp, h.signature, content_type, body});
  }

  std::string tier(const std::string& agent) {
    return raw->text("SELECT current_tier FROM agent_metrics WHERE agent_id = " + ps::testing::q(agent));
  }
};


}  // namespace

BOOST_AUTO_TEST_SUITE(approval)

BOOST_AUTO_TEST_CASE(signed_approval_promotes_in_one_transaction_and_answers_the_commit) {
  Fixture fx;
  const HttpAnswer a = fx.send(approval_body("t0", 1, "anyone"), "msg_1");
  BOOST_TEST(a.status == 200, a.body);
  BOOST_TEST(a.body == R"({"data":{"promotion_id":1,"agent_id":"t0","from_tier":0,"to_tier":1,"sync_state":"pending"}})");
  BOOST_TEST(fx.tier("t0") == "1");
  BOOST_TEST(fx.raw->rows("SELECT agent_id, from_tier, to_tier, approved_by, rationale FROM promotions") ==
             std::vector<std::string>{"t0|0|1|anyone|reviewed in test"});
  BOOST_TEST(fx.outbox() == std::vector<std::string>{"t0|1|1"});
  BOOST_TEST(fx.raw->rows("SELECT webhook_id, event_type, agent_id, target_tier, actor, http_status, "
                          "promotion_id, response FROM sidecar_webhook_deliveries") ==
             std::vector<std::string>{"msg_1|promotion.approved|t0|1|anyone|200|1|" + a.body});
  BOOST_TEST(fx.metrics.promotions.value({"webhook", "promoted"}) == 1);
  const std::string audit = ps::testing::read_text_file(fx.dir.file("audit.jsonl"));
  BOOST_TEST(audit.find("\"event\":\"promotion\"") != std::string::npos, audit);
  BOOST_TEST(audit.find("\"webhook_id\":\"msg_1\"") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(repeated_id_gets_the_same_answer_and_changes_nothing_also_after_a_restart) {
  Fixture fx;
  const std::string body = approval_body("t0", 1, "anyone");
  const HttpAnswer first = fx.send(body, "msg_rep");
  BOOST_REQUIRE(first.status == 200);
  const auto after_first = dump_ledger(*fx.raw);
  const HttpAnswer again = fx.send(body, "msg_rep");
  BOOST_TEST(again.status == 200);
  BOOST_TEST(again.body == first.body);
  BOOST_TEST(again.replayed);
  fx.restart();
  fx.clock.advance(std::chrono::seconds(60));
  const HttpAnswer after_restart = fx.send(body, "msg_rep");
  BOOST_TEST(after_restart.status == 200);
  BOOST_TEST(after_restart.body == first.body);
  BOOST_TEST(dump_ledger(*fx.raw) == after_first);
  BOOST_TEST(fx.outbox() == std::vector<std::string>{"t0|1|1"});  // one change, one push
}

BOOST_AUTO_TEST_CASE(same_id_with_a_different_message_is_a_conflict) {
  Fixture fx;
  BOOST_REQUIRE(fx.send(approval_body("t0", 1, "anyone"), "msg_x").status == 200);
  const auto before = dump_ledger(*fx.raw);
  const HttpAnswer a = fx.send(approval_body("t2", 3, "rev"), "msg_x");
  BOOST_TEST(a.status == 409);
  BOOST_TEST(a.body.find("already used for a different message") != std::string::npos);
  BOOST_TEST(dump_ledger(*fx.raw) == before);
}

BOOST_AUTO_TEST_CASE(twenty_concurrent_deliveries_of_one_id_promote_once) {
  Fixture fx;
  const std::string body = approval_body("t0", 1, "anyone");
  auto h = sign_approval(fx.secret, "msg_race", fx.now_unix(), body);
  std::vector<HttpAnswer> answers(20);
  std::vector<std::thread> threads;
  for (int i = 0; i < 20; ++i) {
    threads.emplace_back([&, i] {
      answers[i] = fx.processor->handle({h.id, h.timestamp, h.signature, "application/json", body});
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& a : answers) {
    BOOST_TEST(a.status == 200, a.body);
    BOOST_TEST(a.body == answers[0].body);
  }
  BOOST_TEST(fx.raw->integer("SELECT count(*) FROM promotions") == 1);
  BOOST_TEST(fx.raw->integer("SELECT count(*) FROM sidecar_webhook_deliveries") == 1);
  BOOST_TEST(fx.outbox() == std::vector<std::string>{"t0|1|1"});
  BOOST_TEST(fx.tier("t0") == "1");
}

BOOST_AUTO_TEST_CASE(every_refusal_gets_its_status_and_leaves_the_ledger_unchanged) {
  Fixture fx;
  const std::string good = approval_body("t0", 1, "anyone");
  const auto before = dump_ledger(*fx.raw);
  struct Case {
    const char* name;
    HttpAnswer answer;
    int status;
  };
  auto h = sign_approval(fx.secret, "msg_t", fx.now_unix(), good);
  auto forged = h;
  forged.signature = "v1," + ps::tls::base64_encode(std::string(32, 'A'));
  const std::string truncated = good.substr(0, good.size() - 5);
  std::vector<Case> cases = {
      {"forged", fx.processor->handle({forged.id, forged.timestamp, forged.signature, "application/json", good}), 401},
      {"wrong secret", fx.send(good, "msg_w", 0, "application/json", std::string(32, 'z')), 401},
      {"stale", fx.send(good, "msg_s", -301), 401},
      {"future", fx.send(good, "msg_f", 301), 401},
      {"no signature", fx.processor->handle({"msg_n", h.timestamp, "", "application/json", good}), 401},
      {"truncated, old signature", fx.processor->handle({h.id, h.timestamp, h.signature, "application/json", truncated}), 401},
      {"truncated, signed", fx.send(truncated, "msg_tr"), 400},
      {"non-JSON content type", fx.send(good, "msg_ct", 0, "text/plain"), 415},
      {"not JSON", fx.send("approve t0 please", "msg_nj"), 400},
      {"wrong type", fx.send(R"({"type":"promotion.approved","data":{"agent_id":"t0","target_tier":"1","approver":"a"}})", "msg_wt"), 400},
      {"float tier", fx.send(R"({"type":"promotion.approved","data":{"agent_id":"t0","target_tier":1.0,"approver":"a"}})", "msg_ft"), 400},
      {"missing field", fx.send(R"({"type":"promotion.approved","data":{"agent_id":"t0","target_tier":1}})", "msg_mf"), 400},
      {"unknown type", fx.send(R"({"type":"promotion.maybe","data":{"agent_id":"t0","target_tier":1,"approver":"a"}})", "msg_ut"), 400},
      {"tier out of range", fx.send(approval_body("t0", 5, "a"), "msg_tor"), 400},
      {"array body", fx.send("[1,2]", "msg_arr"), 400},
  };
  for (const auto& c : cases) {
    BOOST_TEST(c.answer.status == c.status, c.name << ": " << c.answer.body);
    BOOST_TEST(nlohmann::json::parse(c.answer.body)["errors"].is_array(), c.name);
    BOOST_TEST(c.answer.body.find(fx.secret.substr(6, 10)) == std::string::npos);
  }
  BOOST_TEST(dump_ledger(*fx.raw) == before);
  BOOST_TEST(fx.outbox().empty());
  // Only the refusals of signed (authenticated) requests are audited: the 400s and the 415.
  // The 401s are counted and logged (sampled), never audited.
  const std::string audit = ps::testing::read_text_file(fx.dir.file("audit.jsonl"));
  std::size_t rejected = 0;
  for (auto p = audit.find("webhook.rejected"); p != std::string::npos; p = audit.find("webhook.rejected", p + 1)) ++rejected;
  std::size_t authenticated = 0;
  for (const auto& c : cases) authenticated += c.status != 401;
  BOOST_TEST(authenticated == 9u);
  BOOST_TEST(rejected == authenticated);
  BOOST_TEST(audit.find("\"reason\":\"stale\"") == std::string::npos);
  BOOST_TEST(audit.find("\"reason\":\"future\"") == std::string::npos);
  BOOST_TEST(audit.find("\"reason\":\"signature\"") == std::string::npos);
  BOOST_TEST(audit.find("\"reason\":\"content_type\"") != std::string::npos);
  BOOST_TEST(fx.metrics.webhook_rejections.value({"signature"}) == 3);
  BOOST_TEST(fx.metrics.webhook_rejections.value({"stale"}) == 1);
}

BOOST_AUTO_TEST_CASE(the_reserved_auto_approver_is_refused_with_400_and_changes_nothing) {
  Fixture fx;
  const auto before = dump_ledger(*fx.raw);
  for (const char* type : {"promotion.approved", "promotion.denied"}) {
    const HttpAnswer a = fx.send(approval_body("t0", 1, "policy-sidecar:auto", type),
                                 std::string("msg_reserved_") + type);
    BOOST_TEST(a.status == 400, a.body);
    BOOST_TEST(a.body.find("policy-sidecar:auto is reserved") != std::string::npos, a.body);
  }
  BOOST_TEST(dump_ledger(*fx.raw) == before);
  BOOST_TEST(fx.tier("t0") == "0");
}

BOOST_AUTO_TEST_CASE(a_thousand_forged_webhooks_write_no_audit_and_are_throttled_per_peer) {
  Fixture fx;
  PeerLimits limits;  // the documented defaults: 5/s, burst 20
  UnauthenticatedGuard guard(limits, fx.clock);
  fx.processor = std::make_unique<ApprovalWebhook>(WebhookDeps{
      *fx.pool, *fx.settings, *fx.tier_changes, fx.clock, fx.logger, fx.audit.get(),
      &fx.metrics, &guard});
  BOOST_REQUIRE(fx.send(approval_body("t2", 3, "rev"), "msg_before").status == 200);
  const std::string audit_before = ps::testing::read_text_file(fx.dir.file("audit.jsonl"));
  const auto ledger_before = dump_ledger(*fx.raw);
  const std::size_t log_before = fx.log_lines.size();

  const std::string body = approval_body("t0", 1, "mallory");
  const std::string forged_signature = "v1," + ps::tls::base64_encode(std::string(32, 'A'));
  const std::string ts = std::to_string(fx.now_unix());
  int unauthorized = 0, throttled = 0;
  std::optional<int> retry_after;
  for (int i = 0; i < 1000; ++i) {
    const std::string id = "msg_forged_" + std::to_string(i);
    const HttpAnswer a = fx.processor->handle(
        {id, ts, forged_signature, "application/json", body, "203.0.113.9"});
    if (a.status == 401) ++unauthorized;
    if (a.status == 429) {
      ++throttled;
      retry_after = a.retry_after_s;
    }
  }
  BOOST_TEST(unauthorized == 20);  // the burst, then 429 (no time passes on this clock)
  BOOST_TEST(throttled == 980);
  BOOST_TEST((retry_after == std::optional<int>(1)));
  BOOST_TEST(ps::testing::read_text_file(fx.dir.file("audit.jsonl")) == audit_before);
  BOOST_TEST(dump_ledger(*fx.raw) == ledger_before);
  BOOST_TEST(fx.metrics.webhook_rejections.value({"signature"}) +
                 fx.metrics.webhook_rejections.value({"rate_limited"}) ==
             1000);
  BOOST_TEST(fx.metrics.webhook_rejections.value({"rate_limited"}) == 980);
  std::size_t rejected_lines = 0;
  for (std::size_t i = log_before; i < fx.log_lines.size(); ++i) {
    rejected_lines += fx.log_lines[i].find("webhook.rejected") != std::string::npos;
  }
  BOOST_TEST(rejected_lines == 1u);  // one per peer per interval
  BOOST_TEST(fx.log_lines[log_before].find("203.0.113.9") != std::string::npos);

  // Another address is not throttled, and a signed approval from it is decided.
  auto h = sign_approval(fx.secret, "msg_other", fx.now_unix(), approval_body("t0", 1, "x"));
  const std::string legit_body = approval_body("t0", 1, "x");
  BOOST_TEST(fx.processor->handle({h.id, h.timestamp, h.signature, "application/json",
                                   legit_body, "198.51.100.4"})
                 .status == 200);
  // The flooding address gets a token back after Retry-After; the next log line for it says
  // how many were left out.
  fx.clock.advance(std::chrono::seconds(60));
  const HttpAnswer later =
      fx.processor->handle({"msg_late", ts, forged_signature, "application/json", body, "203.0.113.9"});
  BOOST_TEST(later.status == 401);
  BOOST_TEST(fx.log_lines.back().find("\"suppressed\":999") != std::string::npos,
             fx.log_lines.back());
}

BOOST_AUTO_TEST_CASE(a_rotated_out_secret_still_verifies_while_it_is_listed) {
  Fixture fx;
  BOOST_TEST(fx.send(approval_body("t0", 1, "anyone"), "msg_old", 0, "application/json", kOldKey).status == 200);
}

BOOST_AUTO_TEST_CASE(approver_outside_the_lists_is_refused_for_review_and_admin_tiers) {
  Fixture fx;
  const auto before = dump_ledger(*fx.raw);
  BOOST_TEST(fx.send(approval_body("t2", 3, "mallory"), "m1").status == 403);
  BOOST_TEST(fx.send(approval_body("t3", 4, "mallory"), "m2").status == 403);
  const HttpAnswer reviewer_on_admin_tier = fx.send(approval_body("t3", 4, "rev"), "m3");
  BOOST_TEST(reviewer_on_admin_tier.status == 403);
  BOOST_TEST(reviewer_on_admin_tier.body.find("webhook.admins") != std::string::npos);
  BOOST_TEST(fx.send(approval_body("t2", 3, "mallory", "promotion.denied"), "m4").status == 403);
  BOOST_TEST(dump_ledger(*fx.raw) == before);
  BOOST_TEST(fx.send(approval_body("t2", 3, "rev"), "m5").status == 200);
  BOOST_TEST(fx.send(approval_body("t3", 4, "adm"), "m6").status == 200);
  BOOST_TEST(fx.tier("t2") == "3");
  BOOST_TEST(fx.tier("t3") == "4");
}

BOOST_AUTO_TEST_CASE(agent_not_at_the_previous_tier_or_not_eligible_is_a_conflict) {
  Fixture fx;
  const auto before = dump_ledger(*fx.raw);
  const HttpAnswer skip = fx.send(approval_body("t0", 2, "rev"), "c1");
  BOOST_TEST(skip.status == 409);
  BOOST_TEST(skip.body.find("no longer at Tier 1") != std::string::npos, skip.body);
  const HttpAnswer not_eligible = fx.send(approval_body("new", 1, "rev"), "c2");
  BOOST_TEST(not_eligible.status == 409);
  BOOST_TEST(not_eligible.body.find("Agent not eligible") != std::string::npos, not_eligible.body);
  BOOST_TEST(fx.send(approval_body("ghost", 1, "rev"), "c3").status == 409);
  BOOST_TEST(dump_ledger(*fx.raw) == before);
  // The id of a refused delivery is not burnt: once the agent qualifies, it goes through.
  BOOST_TEST(fx.send(approval_body("t0", 1, "rev"), "c1b").status == 200);
}

BOOST_AUTO_TEST_CASE(denial_is_recorded_without_a_tier_change_and_replayed_on_repeat) {
  Fixture fx;
  const std::string body = approval_body("t2", 3, "rev", "promotion.denied");
  const HttpAnswer a = fx.send(body, "d1");
  BOOST_TEST(a.status == 200, a.body);
  BOOST_TEST(a.body == R"({"data":{"denial_id":1,"agent_id":"t2","tier":2,"target_tier":3,"denied_by":"rev"}})");
  BOOST_TEST(fx.tier("t2") == "2");
  BOOST_TEST(fx.raw->integer("SELECT count(*) FROM promotions") == 0);
  BOOST_TEST(fx.raw->rows("SELECT agent_id, current_tier, target_tier, denied_by, webhook_id FROM sidecar_denials") ==
             std::vector<std::string>{"t2|2|3|rev|d1"});
  const auto after = dump_ledger(*fx.raw);
  const HttpAnswer again = fx.send(body, "d1");
  BOOST_TEST(again.body == a.body);
  BOOST_TEST(dump_ledger(*fx.raw) == after);
  BOOST_TEST(fx.send(approval_body("t0", 3, "rev", "promotion.denied"), "d2").status == 409);
  BOOST_TEST(fx.metrics.denials.value({"recorded"}) == 1);
}

BOOST_AUTO_TEST_CASE(locked_ledger_gives_503_with_retry_after_and_changes_nothing) {
  Fixture fx(100);
  const auto before = dump_ledger(*fx.raw);
  fx.raw->exec("BEGIN IMMEDIATE");
  const HttpAnswer a = fx.send(approval_body("t0", 1, "anyone"), "l1");
  fx.raw->exec("ROLLBACK");
  BOOST_TEST(a.status == 503);
  BOOST_TEST(a.retry_after_s.has_value());
  BOOST_TEST(a.body.find("ledger is unavailable") != std::string::npos);
  BOOST_TEST(dump_ledger(*fx.raw) == before);
  BOOST_TEST(fx.send(approval_body("t0", 1, "anyone"), "l1").status == 200);  // retry works
}

BOOST_AUTO_TEST_CASE(failing_outbox_write_rolls_the_promotion_back) {
  Fixture fx;
  fx.make_outbox_writes_fail();
  const auto before = dump_ledger(*fx.raw);
  const HttpAnswer a = fx.send(approval_body("t0", 1, "anyone"), "h1");
  BOOST_TEST(a.status == 503);
  BOOST_TEST(dump_ledger(*fx.raw) == before);
  BOOST_TEST(a.body.find("outbox") == std::string::npos);  // details go to the log only
}

BOOST_AUTO_TEST_CASE(webhook_without_secrets_is_disabled) {
  Fixture fx;
  auto s = std::make_shared<ServeSettings>(*fx.settings->get());
  s->webhook_secrets.clear();
  fx.settings->set(s);
  BOOST_TEST(fx.send(approval_body("t0", 1, "anyone"), "z1").status == 404);
}

BOOST_AUTO_TEST_CASE(logs_never_carry_the_secret_or_signatures) {
  Fixture fx;
  auto h = sign_approval(fx.secret, "msg_log", fx.now_unix(), approval_body("t0", 1, "a"));
  fx.processor->handle({h.id, h.timestamp, h.signature, "application/json", approval_body("t0", 1, "a")});
  fx.send(approval_body("t0", 1, "a"), "msg_log2", 0, "application/json", std::string(32, 'q'));
  std::lock_guard<std::mutex> lock(fx.log_mu);
  BOOST_TEST(!fx.log_lines.empty());
  for (const auto& line : fx.log_lines) {
    BOOST_TEST(line.find(h.signature.substr(3, 12)) == std::string::npos, line);
    BOOST_TEST(line.find(fx.secret.substr(6, 12)) == std::string::npos, line);
  }
}

BOOST_AUTO_TEST_SUITE_END()
