// Retention (sidecar/sync/retention.h over engine/ledger/retention.h) on a real SQLite ledger
// with a simulated clock: old rows of every sidecar table go, in small batches, and what
// correctness needs stays - each agent's latest demotion, demotions with unfinished
// revocation steps, pending and failed steps and outbox rows, the outbox row of a present
// agent, the violation mark and the violation outcomes.
#include <boost/test/unit_test.hpp>

#include "engine/ledger/ledger.h"
#include "engine/rules/timestamp.h"
#include "sidecar/config/config.h"
#include "sidecar/sync/retention.h"
#include "tests/support/simulated_clock.h"
#include "tests/support/test_support.h"

using namespace ps::sidecar;
using namespace std::chrono_literals;

namespace {

struct Fixture {
  ps::testing::TempDir dir;
  std::string db = dir.file("ledger.db");
  ps::SimulatedClock clock;
  std::unique_ptr<ps::testing::RawLedger> raw;
  std::unique_ptr<LedgerPool> pool;

  Fixture() {
    raw = std::make_unique<ps::testing::RawLedger>(db, true);
    {
      auto l = ps::engine::Ledger::open({db, 5000, false});
      BOOST_REQUIRE((*l)->migrate(clock.wall_now()).ok());
    }
    pool = std::make_unique<LedgerPool>(ps::engine::LedgerOptions{db, 5000, false});
  }
  // isoformat of now - `days`.
  std::string ago(int days) const {
    return ps::engine::format_isoformat_utc(clock.wall_now() - std::chrono::hours(24 * days));
  }
  std::string q(const std::string& s) const { return ps::testing::q(s); }
  void drift(int days) {
    raw->exec("INSERT INTO sidecar_drift (found_at, agent_id, role, kind, expected, found, mode, "
              "action) VALUES (" + q(ago(days)) + ", 'a', 'agent-a', 'policies', '[]', '[]', "
              "'detect', 'reported')");
  }
  void history(int days) {
    raw->exec("INSERT INTO sidecar_sync_history (at, agent_id, role, tier, generation, outcome, "
              "attempt) VALUES (" + q(ago(days)) + ", 'a', 'agent-a', 1, 1, 'synced', 1)");
  }
  void delivery(const std::string& id, int days) {
    raw->exec("INSERT INTO sidecar_webhook_deliveries (webhook_id, received_at, "
              "webhook_timestamp, body_sha256, event_type, agent_id, target_tier, actor, "
              "http_status, response) VALUES (" + q(id) + ", " + q(ago(days)) +
              ", 0, 'x', 'promotion.approved', 'a', 1, 'rev', 200, '{}')");
  }
  void denial(int days) {
    raw->exec("INSERT INTO sidecar_denials (timestamp, agent_id, current_tier, target_tier, "
              "denied_by) VALUES (" + q(ago(days)) + ", 'a', 0, 1, 'rev')");
  }
  std::int64_t demotion(const std::string& agent, int days) {
    raw->exec("INSERT INTO sidecar_demotions (timestamp, agent_id, from_tier, to_tier, "
              "demoted_by, reason) VALUES (" + q(ago(days)) + ", " + q(agent) +
              ", 2, 0, 'ops', 'r')");
    return raw->integer("SELECT MAX(id) FROM sidecar_demotions");
  }
  void step(const std::string& agent, std::int64_t demotion_id, const std::string& state,
            int days) {
    raw->exec("INSERT INTO sidecar_revocation_steps (agent_id, demotion_id, step, tier, "
              "cutoff_ms, state, next_attempt_ms, created_at, updated_at, done_at) VALUES (" +
              q(agent) + ", " + std::to_string(demotion_id) + ", 'revoke_tokens', 0, 0, " +
              q(state) + ", 0, " + q(ago(days)) + ", " + q(ago(days)) + ", " +
              (state == "done" ? q(ago(days)) : std::string("NULL")) + ")");
  }
  void outbox(const std::string& agent, const std::string& state, int days) {
    raw->exec("INSERT INTO sidecar_outbox (agent_id, role, tier, policies, kind, priority, "
              "generation, state, next_attempt_ms, changed_ms, created_at, updated_at, "
              "synced_at) VALUES (" + q(agent) + ", " + q("agent-" + agent) +
              ", 1, '[]', 'promotion', 1, 1, " + q(state) + ", 0, 0, " + q(ago(days)) + ", " +
              q(ago(days)) + ", " + (state == "synced" ? q(ago(days)) : std::string("NULL")) +
              ")");
  }
  std::int64_t count(const std::string& table) {
    return raw->integer("SELECT count(*) FROM " + table);
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(retention)

BOOST_AUTO_TEST_CASE(old_rows_go_and_new_rows_stay_in_every_table) {
  Fixture fx;
  for (int d : {400, 31, 29, 0}) {
    fx.drift(d);
    fx.history(d);
    fx.denial(d);
  }
  fx.delivery("old", 31);
  fx.delivery("new", 29);
  RetentionConfig config;  // the documented defaults
  RetentionPruner pruner(*fx.pool, fx.clock);
  auto pass = pruner.run_once(config);
  BOOST_REQUIRE_MESSAGE(pass.ok(), pass.status().message());
  BOOST_TEST(pass->deleted.at("drift") == 2);
  BOOST_TEST(pass->deleted.at("sync_history") == 2);
  BOOST_TEST(pass->deleted.at("webhook_deliveries") == 1);
  BOOST_TEST(pass->deleted.at("denials") == 1);  // 365 days by default
  BOOST_TEST(fx.count("sidecar_drift") == 2);
  BOOST_TEST(fx.raw->rows("SELECT webhook_id FROM sidecar_webhook_deliveries") ==
             std::vector<std::string>{"new"});
  BOOST_TEST(fx.count("sidecar_denials") == 3);
  // A second pass finds nothing more.
  BOOST_TEST(pruner.run_once(config)->total() == 0);
}

BOOST_AUTO_TEST_CASE(demotions_keep_each_agents_latest_and_those_with_unfinished_steps) {
  Fixture fx;
  const auto a_old = fx.demotion("a", 900);
  fx.demotion("a", 800);                        // a's latest: kept however old (cooldown)
  const auto b_pending = fx.demotion("b", 900);  // its step is pending: kept
  fx.step("b", b_pending, "pending", 900);
  const auto b_failed = fx.demotion("b", 850);
  fx.step("b", b_failed, "failed", 850);
  const auto b_done = fx.demotion("b", 840);
  fx.step("b", b_done, "done", 840);
  fx.demotion("b", 1);
  RetentionPruner pruner(*fx.pool, fx.clock);
  auto pass = pruner.run_once(RetentionConfig{});
  BOOST_REQUIRE_MESSAGE(pass.ok(), pass.status().message());
  BOOST_TEST(pass->deleted.at("demotions") == 2);  // a_old and b_done
  BOOST_TEST(fx.raw->integer("SELECT count(*) FROM sidecar_demotions WHERE id IN (" +
                             std::to_string(a_old) + ", " + std::to_string(b_done) + ")") == 0);
  BOOST_TEST(fx.count("sidecar_demotions") == 4);
  // Steps: only the old done one goes; pending and failed stay however old.
  BOOST_TEST(pass->deleted.at("revocation_steps") == 1);
  BOOST_TEST(fx.raw->rows("SELECT state FROM sidecar_revocation_steps ORDER BY id") ==
             (std::vector<std::string>{"pending", "failed"}));
}

BOOST_AUTO_TEST_CASE(outbox_loses_only_old_synced_rows_of_agents_that_are_gone) {
  Fixture fx;
  fx.raw->metrics("present", 1, 1, 1, 1);
  fx.outbox("present", "synced", 400);  // a present agent: what Vault must hold
  fx.outbox("gone-synced", "synced", 400);
  fx.outbox("gone-recent", "synced", 1);
  fx.outbox("gone-pending", "pending", 400);
  fx.outbox("gone-failed", "failed", 400);
  RetentionPruner pruner(*fx.pool, fx.clock);
  auto pass = pruner.run_once(RetentionConfig{});
  BOOST_REQUIRE_MESSAGE(pass.ok(), pass.status().message());
  BOOST_TEST(pass->deleted.at("outbox") == 1);
  BOOST_TEST(fx.raw->rows("SELECT agent_id FROM sidecar_outbox ORDER BY agent_id") ==
             (std::vector<std::string>{"gone-failed", "gone-pending", "gone-recent", "present"}));
}

BOOST_AUTO_TEST_CASE(the_violation_mark_and_outcomes_are_never_deleted) {
  Fixture fx;
  const auto mark_before = fx.raw->rows("SELECT * FROM sidecar_revocation_mark");
  fx.raw->exec("INSERT INTO sidecar_violation_outcomes (violation_id, agent_id, severity, "
               "outcome, handled_at) VALUES (1, 'a', 'low', 'no_action', " + fx.q(fx.ago(5000)) + ")");
  RetentionConfig config;
  config.drift_days = config.sync_history_days = config.denials_days = 1;
  config.demotions_days = config.revocation_steps_days = config.outbox_days = 1;
  config.webhook_deliveries_days = 1;
  RetentionPruner pruner(*fx.pool, fx.clock);
  BOOST_REQUIRE(pruner.run_once(config).ok());
  BOOST_TEST(fx.raw->rows("SELECT * FROM sidecar_revocation_mark") == mark_before);
  BOOST_TEST(fx.count("sidecar_violation_outcomes") == 1);
}

BOOST_AUTO_TEST_CASE(work_is_done_in_small_batches_with_a_pause_between_them) {
  Fixture fx;
  for (int i = 0; i < 7; ++i) fx.drift(100);
  RetentionConfig config;
  config.batch_rows = 2;
  RetentionPruner pruner(*fx.pool, fx.clock);
  int pauses = 0;
  auto pass = pruner.run_once(config, [&] {
    ++pauses;
    return false;
  });
  BOOST_REQUIRE(pass.ok());
  BOOST_TEST(pass->deleted.at("drift") == 7);
  BOOST_TEST(pauses == 3);  // batches of 2, 2, 2, then 1 (< batch: the table is done)
  BOOST_TEST(fx.count("sidecar_drift") == 0);

  // A pause that says stop (shutdown) ends the pass at once.
  for (int i = 0; i < 7; ++i) fx.drift(100);
  pass = pruner.run_once(config, [] { return true; });
  BOOST_REQUIRE(pass.ok());
  BOOST_TEST(pass->stopped);
  BOOST_TEST(fx.count("sidecar_drift") == 5);
}

BOOST_AUTO_TEST_CASE(sync_history_is_also_capped_by_rows) {
  Fixture fx;
  for (int i = 0; i < 1500; ++i) fx.history(0);
  RetentionConfig config;
  config.sync_history_max_rows = 1000;
  RetentionPruner pruner(*fx.pool, fx.clock);
  BOOST_REQUIRE(pruner.run_once(config).ok());
  BOOST_TEST(fx.count("sidecar_sync_history") == 1000);
  BOOST_TEST(fx.raw->integer("SELECT MIN(id) FROM sidecar_sync_history") == 501);
}

BOOST_AUTO_TEST_CASE(unparseable_timestamps_are_never_deleted) {
  Fixture fx;
  fx.raw->exec("INSERT INTO sidecar_drift (found_at, agent_id, role, kind, expected, mode, action) "
               "VALUES ('garbage', 'a', 'r', 'k', '[]', 'detect', 'reported')");
  RetentionPruner pruner(*fx.pool, fx.clock);
  BOOST_REQUIRE(pruner.run_once(RetentionConfig{}).ok());
  BOOST_TEST(fx.count("sidecar_drift") == 1);
}

BOOST_AUTO_TEST_CASE(delivery_retention_must_cover_tolerance_plus_the_senders_retries) {
  auto short_keep = parse_config(
      R"({"webhook": {"tolerance_s": 300}, "retention": {"webhook_deliveries_days": 1,
          "sender_retry_horizon_s": 172800}})", "t");
  BOOST_REQUIRE(short_keep.ok());
  const ps::Status refused = validate_retention(*short_keep);
  BOOST_TEST(!refused.ok());
  BOOST_TEST(refused.message().find("retention.webhook_deliveries_days") != std::string::npos,
             refused.message());
  auto enough = parse_config(R"({"retention": {"webhook_deliveries_days": 3}})", "t");
  BOOST_REQUIRE(enough.ok());
  BOOST_TEST(validate_retention(*enough).ok());
  BOOST_TEST(validate_retention(Config{}).ok());  // the defaults are consistent
  BOOST_TEST(!parse_config(R"({"retention": {"drift_days": 0}})", "t").ok());
  BOOST_TEST(!parse_config(R"({"retention": {"keep_forever": true}})", "t").ok());
}

BOOST_AUTO_TEST_SUITE_END()
