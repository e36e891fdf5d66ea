// Revocation on a real ledger file with the in-memory fake Vault and the simulated clock:
// violations become demotions exactly once through the tier-change service (rules, odd input,
// late rows, replays), promotions are guarded (unhandled violation, freeze, cooldown), the sync
// worker carries out the Vault-side steps, and the reconciler applies the freeze and the
// unjustified-privilege rule to orphan roles.
#include <boost/test/unit_test.hpp>

#include "engine/ledger/revocation.h"
#include "engine/ledger/revocation_steps.h"
#include "sidecar/config/settings.h"
#include "sidecar/sync/ledger_pool.h"
#include "sidecar/sync/revocation_rules.h"
#include "sidecar/sync/tier_change_service.h"
#include "tests/sidecar/sync/sync_test_support.h"

using ps::Code;
using ps::Result;
using ps::SimulatedClock;
using ps::Status;
using namespace ps::sidecar;
using namespace ps::sidecar::testing;
using namespace std::chrono_literals;

namespace {

struct RevocationFixture : SyncFixture {
  RevocationFixture() {
    raw = std::make_unique<ps::testing::RawLedger>(db);
    pool = std::make_unique<LedgerPool>(ps::engine::LedgerOptions{db, 5000, false});
    configure([](ServeSettings&) {});
  }

  // Settings in effect: permissive rules, cooldown `days`, the given revocation config edits.
  void configure(const std::function<void(ServeSettings&)>& edit, std::int64_t cooldown = 7) {
    auto s = std::make_shared<ServeSettings>();
    auto rules = permissive_rules();
    rules.set_cooldown_days(cooldown);
    s->rules = std::make_shared<const ps::engine::Rules>(rules);
    edit(*s);
    if (!settings) {
      settings = std::make_unique<SettingsStore>(s);
      service = std::make_unique<TierChangeService>(
          TierChangeServiceDeps{*pool, *settings, clock, tier_events}, desired);
    } else {
      settings->set(s);
    }
  }

  // Inserts a violation as the platform does; returns its id.
  std::int64_t violation(const std::string& agent, const std::string& severity,
                         const std::string& type = "policy_breach", int acknowledged = 0) {
    raw->exec("INSERT INTO violations (timestamp, agent_id, violation_type, severity, "
              "acknowledged) VALUES ('2026-12-01T10:00:00+00:00', " + ps::testing::q(agent) +
              ", " + ps::testing::q(type) + ", " + ps::testing::q(severity) + ", " +
              std::to_string(acknowledged) + ")");
    return raw->integer("SELECT MAX(id) FROM violations");
  }

  TierChangeService::ViolationPass scan(std::optional<std::int64_t> from_id = std::nullopt) {
    auto pass = service->scan_violations(from_id);
    BOOST_REQUIRE_MESSAGE(pass.ok(), pass.status().message());
    return *pass;
  }
  std::int64_t tier(const std::string& agent) {
    return raw->integer("SELECT current_tier FROM agent_metrics WHERE agent_id = " +
                        ps::testing::q(agent));
  }
  std::string outcome(std::int64_t violation_id) {
    return raw->text("SELECT outcome FROM sidecar_violation_outcomes WHERE violation_id = " +
                     std::to_string(violation_id));
  }
  std::int64_t count(const std::string& sql) { return raw->integer(sql); }
  Result<ps::engine::PromotionRecord> promote_via_service(const std::string& agent) {
    TierChangeService::Promotion p;
    p.agent_id = agent;
    p.approved_by = "carol";
    return service->promote(p);
  }

  std::unique_ptr<ps::testing::RawLedger> raw;
  std::unique_ptr<LedgerPool> pool;
  std::unique_ptr<SettingsStore> settings;
  NoTierChangeEvents tier_events;
  std::unique_ptr<TierChangeService> service;
};

RevocationConfig default_revocation() { return RevocationConfig{}; }

}  // namespace

BOOST_AUTO_TEST_SUITE(revocation_rules)

BOOST_AUTO_TEST_CASE(severities_are_trimmed_and_case_insensitive_and_nothing_else_is_guessed) {
  BOOST_TEST(*normalize_severity(" HIGH\t") == "high");
  BOOST_TEST(*normalize_severity("Critical") == "critical");
  for (const char* bad : {"", " ", "urgent", "hi gh", "critical!", "\xff"}) {
    BOOST_TEST(!normalize_severity(bad).has_value(), bad);
  }
  ps::engine::ViolationRow v{1, "t", "a", "x", "urgent", false};
  BOOST_TEST((decide_violation(default_revocation(), v, 3).kind ==
              ps::engine::ViolationDecision::Kind::invalid_severity));
}

BOOST_AUTO_TEST_CASE(defaults_critical_to_zero_high_one_down_medium_and_low_nothing) {
  const RevocationConfig c = default_revocation();
  using K = ps::engine::ViolationDecision::Kind;
  ps::engine::ViolationRow v{1, "t", "a", "x", "critical", false};
  auto d = decide_violation(c, v, 3);
  BOOST_TEST((d.kind == K::demote));
  BOOST_TEST(d.to_tier == 0);
  v.severity = "high";
  d = decide_violation(c, v, 3);
  BOOST_TEST(d.to_tier == 2);
  for (const char* s : {"medium", "low"}) {
    v.severity = s;
    BOOST_TEST((decide_violation(c, v, 3).kind == K::none));
  }
}

BOOST_AUTO_TEST_CASE(a_type_rule_wins_over_the_severity_and_acknowledged_rows_count_unless_skipped) {
  RevocationConfig c = default_revocation();
  c.by_type["credential_leak"] = {RevocationRule::Kind::demote_to, 0};
  c.by_type["noise"] = {RevocationRule::Kind::none, 0};
  using K = ps::engine::ViolationDecision::Kind;
  ps::engine::ViolationRow v{1, "t", "a", "credential_leak", "low", false};
  BOOST_TEST(decide_violation(c, v, 4).to_tier == 0);
  v.violation_type = "noise";
  v.severity = "critical";
  BOOST_TEST((decide_violation(c, v, 4).kind == K::none));
  v.violation_type = "other";
  v.acknowledged = true;
  BOOST_TEST((decide_violation(c, v, 4).kind == K::demote));
  c.act_on_acknowledged = false;
  BOOST_TEST((decide_violation(c, v, 4).kind == K::none));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(revocation_ledger)

BOOST_AUTO_TEST_CASE(the_mark_starts_at_the_highest_violation_existing_when_migrated) {
  ps::testing::TempDir dir;
  const std::string db = dir.file("ledger.db");
  ps::testing::RawLedger raw(db, true);
  raw.metrics("old", 3, 0, 0);
  raw.exec("INSERT INTO violations (timestamp, agent_id, violation_type, severity) VALUES "
           "('2026-11-01T00:00:00+00:00', 'old', 'x', 'critical')");
  auto ledger = ps::engine::Ledger::open({db, 5000, false});
  BOOST_REQUIRE(ledger.ok());
  BOOST_REQUIRE((*ledger)->migrate(SimulatedClock().wall_now()).ok());
  auto mark = ps::engine::Revocations(**ledger).mark();
  BOOST_REQUIRE(mark.ok());
  BOOST_TEST(mark->last_violation_id == 1);
  BOOST_TEST(mark->started_at_id == 1);
  BOOST_TEST(raw.text("SELECT outcome FROM sidecar_violation_outcomes") == "before_sidecar");
}

BOOST_AUTO_TEST_CASE(violations_are_applied_once_in_id_order_against_the_tier_at_that_moment) {
  RevocationFixture f;
  f.add_agent("a", 4);
  f.add_agent("b", 3);
  const auto h1 = f.violation("a", "high");
  const auto h2 = f.violation("a", " HIGH ");
  const auto m = f.violation("b", "medium");
  auto pass = f.scan();
  BOOST_TEST(pass.handled == 3);
  BOOST_TEST(pass.demoted == 2);
  BOOST_TEST(pass.no_action == 1);
  BOOST_TEST(f.tier("a") == 2);  // two highs in one scan: two tiers
  BOOST_TEST(f.tier("b") == 3);
  BOOST_TEST(f.outcome(h1) == "demoted");
  BOOST_TEST(f.outcome(h2) == "demoted");
  BOOST_TEST(f.outcome(m) == "no_action");
  BOOST_TEST(f.raw->rows("SELECT from_tier, to_tier, source, violation_id FROM sidecar_demotions "
                         "ORDER BY id") ==
             (std::vector<std::string>{"4|3|violation|" + std::to_string(h1),
                                       "3|2|violation|" + std::to_string(h2)}));
  // The demotions are queued for Vault with priority, with their revocation steps.
  BOOST_TEST(f.row("a")->tier == 2);
  BOOST_TEST((f.row("a")->kind == ps::engine::ChangeKind::demotion));
  BOOST_TEST(f.count("SELECT COUNT(*) FROM sidecar_revocation_steps") == 2);  // secret IDs x2
  // Again: nothing more happens.
  pass = f.scan();
  BOOST_TEST(pass.handled == 0);
  BOOST_TEST(f.tier("a") == 2);
  BOOST_TEST(f.count("SELECT COUNT(*) FROM sidecar_demotions") == 2);
}

BOOST_AUTO_TEST_CASE(bad_input_is_recorded_and_counted_and_changes_nothing_else) {
  RevocationFixture f;
  f.add_agent("a", 3);
  f.add_agent("Bot/../x", 2);
  const auto before = f.raw->rows("SELECT agent_id, current_tier FROM agent_metrics ORDER BY 1");
  const auto unknown_sev = f.violation("a", "urgent");
  const auto empty_sev = f.violation("a", "");
  const auto unknown_agent = f.violation("nobody", "critical");
  const auto hostile = f.violation(std::string("a\n/../%2F") + std::string(5000, 'z'), "critical");
  auto pass = f.scan();
  BOOST_TEST(pass.invalid_severity == 2);
  BOOST_TEST(pass.unknown_agent == 2);
  BOOST_TEST(pass.demoted == 0);
  BOOST_TEST(f.outcome(unknown_sev) == "invalid_severity");
  BOOST_TEST(f.outcome(empty_sev) == "invalid_severity");
  BOOST_TEST(f.outcome(unknown_agent) == "unknown_agent");
  BOOST_TEST(f.outcome(hostile) == "unknown_agent");
  BOOST_TEST(f.raw->rows("SELECT agent_id, current_tier FROM agent_metrics ORDER BY 1") == before);
  BOOST_TEST(f.count("SELECT COUNT(*) FROM sidecar_demotions") == 0);
  BOOST_TEST(f.count("SELECT COUNT(*) FROM sidecar_outbox") == 0);
}

BOOST_AUTO_TEST_CASE(a_row_inserted_below_the_mark_is_found_and_reported_not_skipped) {
  RevocationFixture f;
  f.add_agent("a", 3);
  f.violation("a", "low");
  f.violation("a", "low");
  f.raw->exec("DELETE FROM violations WHERE id = 1");  // a gap the platform leaves
  f.raw->exec("DELETE FROM sidecar_violation_outcomes");
  f.scan();
  BOOST_TEST(f.scan().handled == 0);
  f.raw->exec("INSERT INTO violations (id, timestamp, agent_id, violation_type, severity) "
              "VALUES (1, '2026-12-01T09:00:00+00:00', 'a', 'late', 'critical')");
  auto pass = f.scan();
  BOOST_TEST(pass.below_mark == 1);
  BOOST_TEST(pass.demoted == 1);
  BOOST_TEST(f.tier("a") == 0);
  BOOST_TEST(f.outcome(1) == "demoted");
}

BOOST_AUTO_TEST_CASE(from_id_replays_on_purpose_and_the_mark_never_goes_back) {
  RevocationFixture f;
  f.add_agent("a", 4);
  const auto v = f.violation("a", "high");
  f.scan();
  BOOST_TEST(f.tier("a") == 3);
  auto pass = f.scan(v);
  BOOST_TEST(pass.demoted == 1);
  BOOST_TEST(f.tier("a") == 2);
  BOOST_TEST(pass.mark == v);
}

BOOST_AUTO_TEST_CASE(an_agent_already_low_enough_still_gets_its_vault_side_steps) {
  RevocationFixture f;
  f.configure([](ServeSettings& s) { s.revocation.revoke_tokens = true; });
  f.add_agent("a", 0);
  f.violation("a", "critical");
  auto pass = f.scan();
  BOOST_TEST(pass.revoked_in_place == 1);
  BOOST_TEST(f.tier("a") == 0);
  BOOST_TEST(f.raw->rows("SELECT step FROM sidecar_revocation_steps ORDER BY step") ==
             (std::vector<std::string>{"destroy_secret_ids", "revoke_tokens"}));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(revocation_guards)

BOOST_AUTO_TEST_CASE(an_unhandled_demoting_violation_blocks_the_promotion_in_its_transaction) {
  RevocationFixture f;
  f.add_agent("a", 1);
  f.violation("a", "low");  // rule none: does not block
  BOOST_REQUIRE(f.promote_via_service("a").ok());
  f.violation("a", "critical");
  auto refused = f.promote_via_service("a");
  BOOST_REQUIRE(!refused.ok());
  BOOST_TEST((refused.status().code() == Code::failed_precondition));
  BOOST_TEST(refused.status().message().find("unhandled violation") != std::string::npos);
  BOOST_TEST(f.tier("a") == 2);
  f.scan();
  BOOST_TEST(f.tier("a") == 0);
}

BOOST_AUTO_TEST_CASE(a_demotion_starts_a_cooldown_that_refuses_promotions_until_it_ends) {
  RevocationFixture f;
  f.add_agent("a", 2);
  f.violation("a", "high");
  f.scan();
  auto refused = f.promote_via_service("a");
  BOOST_REQUIRE(!refused.ok());
  BOOST_TEST(refused.status().message().find("Cooldown after demotion until") != std::string::npos);
  f.clock.advance(std::chrono::hours(24 * 7 + 1));
  BOOST_TEST(f.promote_via_service("a").ok());
}

BOOST_AUTO_TEST_CASE(freeze_holds_everyone_at_tier_zero_and_refuses_promotions_until_unfreeze) {
  RevocationFixture f;
  f.add_agent("a", 3);
  f.add_agent("b", 0);
  f.add_agent("c", 4);
  auto frozen = f.service->freeze("incident 42", "oncall", ChangeSource::cli);
  BOOST_REQUIRE(frozen.ok());
  BOOST_TEST(frozen->agents == 3);
  BOOST_TEST(frozen->demoted == 2);
  BOOST_TEST(f.raw->rows("SELECT current_tier FROM agent_metrics ORDER BY agent_id") ==
             (std::vector<std::string>{"0", "0", "0"}));
  BOOST_TEST(f.count("SELECT COUNT(*) FROM sidecar_demotions WHERE source = 'freeze'") == 3);
  BOOST_TEST(f.count("SELECT COUNT(*) FROM sidecar_outbox WHERE tier = 0 AND priority = 0") == 3);
  BOOST_TEST((f.service->freeze("again", "x", ChangeSource::cli).status().code() ==
              Code::failed_precondition));
  f.configure([](ServeSettings&) {}, 0);  // no cooldown: only the freeze refuses
  auto refused = f.promote_via_service("b");
  BOOST_REQUIRE(!refused.ok());
  BOOST_TEST(refused.status().message().find("promotions are frozen") != std::string::npos);
  BOOST_REQUIRE(f.service->unfreeze("oncall", ChangeSource::cli).ok());
  BOOST_TEST(f.promote_via_service("b").ok());
  BOOST_TEST((f.service->unfreeze("x", ChangeSource::cli).code() == Code::failed_precondition));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(revocation_vault_side)

BOOST_AUTO_TEST_CASE(the_worker_destroys_old_secret_ids_and_revokes_old_or_overprivileged_tokens) {
  RevocationFixture f;
  f.configure([](ServeSettings& s) { s.revocation.revoke_tokens = true; });
  f.add_agent("a", 3);
  f.vault->set_role("agent-a", {"t3-observer"});
  const std::int64_t now_s =
      std::chrono::duration_cast<std::chrono::seconds>(f.clock.wall_now().time_since_epoch()).count();
  f.vault->secret_ids["agent-a"] = {{"old", "2020-01-01T00:00:00Z"}};
  f.vault->tokens["t-old"] = {"agent-a", {"default", "t3-observer"}, now_s - 60};
  f.vault->tokens["t-other"] = {"agent-b", {"default", "t3-observer"}, now_s - 60};
  f.violation("a", "critical");
  f.clock.advance(1s);
  f.scan();
  // Issued after the demotion: a new secret ID and a token with tier 0's policies stay; a token
  // minted in the window with the old policies goes.
  f.vault->secret_ids["agent-a"]["new"] = "2100-01-01T00:00:00.123456789Z";
  f.vault->tokens["t-new"] = {"agent-a", {"default", "t0-observer"}, now_s + 3600};
  f.vault->tokens["t-window"] = {"agent-a", {"default", "t3-observer"}, now_s + 3600};
  SyncWorkerOptions options;
  options.open_steps = [db = f.db] { return ps::engine::RevocationSteps::open({db, 5000, false}); };
  auto worker = f.worker({}, options);
  auto pass = worker->run_once();
  BOOST_REQUIRE(pass.ok());
  BOOST_TEST(pass->synced == 1);
  BOOST_TEST(pass->steps_done == 2);
  BOOST_TEST(*f.vault->role("agent-a") == std::vector<std::string>{"t0-observer"});
  BOOST_TEST(f.vault->secret_ids["agent-a"].count("old") == 0u);
  BOOST_TEST(f.vault->secret_ids["agent-a"].count("new") == 1u);
  BOOST_TEST(f.vault->tokens.count("t-old") == 0u);
  BOOST_TEST(f.vault->tokens.count("t-window") == 0u);
  BOOST_TEST(f.vault->tokens.count("t-new") == 1u);
  BOOST_TEST(f.vault->tokens.count("t-other") == 1u);
  BOOST_TEST(f.vault->count("tokens") == 1u);  // one listing for the batch
  BOOST_TEST(f.count("SELECT COUNT(*) FROM sidecar_revocation_steps WHERE state = 'done'") == 2);
  // Done exactly once: another pass does nothing.
  BOOST_REQUIRE(worker->run_once().ok());
  BOOST_TEST(f.vault->count("tokens") == 1u);
}

BOOST_AUTO_TEST_CASE(a_token_listing_without_sudo_parks_the_step_with_the_reason) {
  RevocationFixture f;
  f.configure([](ServeSettings& s) { s.revocation.revoke_tokens = true; });
  f.add_agent("a", 2);
  f.vault->set_role("agent-a", {"t2-observer"});
  f.vault->tokens_need_sudo = true;
  f.violation("a", "critical");
  f.scan();
  SyncWorkerOptions options;
  options.open_steps = [db = f.db] { return ps::engine::RevocationSteps::open({db, 5000, false}); };
  BOOST_REQUIRE(f.worker({}, options)->run_once().ok());
  BOOST_TEST(f.raw->rows("SELECT step, state, error_code FROM sidecar_revocation_steps ORDER BY step") ==
             (std::vector<std::string>{"destroy_secret_ids|done|NULL",
                                       "revoke_tokens|failed|permission_denied"}));
  BOOST_TEST(*f.vault->role("agent-a") == std::vector<std::string>{"t0-observer"});
}

BOOST_AUTO_TEST_CASE(a_sealed_vault_retries_the_step_later_and_pauses_the_worker) {
  RevocationFixture f;
  f.add_agent("a", 2);
  f.vault->set_role("agent-a", {"t0-observer"});
  f.violation("a", "critical");
  f.scan();
  SyncWorkerOptions options;
  options.open_steps = [db = f.db] { return ps::engine::RevocationSteps::open({db, 5000, false}); };
  auto worker = f.worker({}, options);
  f.vault->on_request = [&](const std::string& op, const std::string&) {
    if (op == "secret_ids") f.vault->sealed = true;
  };
  auto pass = worker->run_once();
  BOOST_REQUIRE(pass.ok());
  BOOST_TEST(pass->paused);
  BOOST_TEST(f.raw->rows("SELECT state, error_code, attempts FROM sidecar_revocation_steps") ==
             std::vector<std::string>{"pending|sealed|1"});
  BOOST_TEST(worker->health().paused_until.has_value());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(revocation_reconcile)

BOOST_AUTO_TEST_CASE(while_frozen_every_role_is_held_at_tier_zero_even_in_detect_mode) {
  RevocationFixture f;
  f.add_agent("a", 2);
  f.vault->set_role("agent-a", {"t2-observer"});
  BOOST_REQUIRE(f.service->freeze("drill", "oncall", ChangeSource::cli).ok());
  f.raw->exec("UPDATE agent_metrics SET current_tier = 3 WHERE agent_id = 'a'");  // raised behind our back
  f.raw->exec("DELETE FROM sidecar_outbox");  // and no push queued
  ReconcileConfig c;
  c.drift_mode = DriftMode::detect;
  auto dry = f.reconciler(c)->run(true);
  BOOST_REQUIRE(dry.ok());
  BOOST_TEST(dry->summary.frozen);
  BOOST_TEST(f.count("SELECT COUNT(*) FROM sidecar_outbox") == 0);  // a dry run never writes
  auto rep = f.reconciler(c)->run(false);
  BOOST_REQUIRE(rep.ok());
  BOOST_TEST(rep->summary.repairs == 1);
  BOOST_TEST(f.row("a")->policies == std::vector<std::string>{"t0-observer"});
}

BOOST_AUTO_TEST_CASE(orphan_roles_lose_their_managed_policies_and_are_deleted_only_when_asked) {
  RevocationFixture f;
  f.add_agent("a", 1);
  f.vault->set_role("agent-a", {"t1-observer"});
  f.vault->set_role("agent-ghost", {"custom", "t4-observer"});
  f.vault->set_role("sidecar-login", {"t4-observer"});  // not the template's: not ours
  ReconcileConfig c;
  c.drift_mode = DriftMode::detect;
  auto dry = f.reconciler(c)->run(true);
  BOOST_REQUIRE(dry.ok());
  BOOST_TEST(dry->summary.orphans == 1);
  BOOST_TEST(*f.vault->role("agent-ghost") == (std::vector<std::string>{"custom", "t4-observer"}));
  c.drift_mode = DriftMode::ignore;
  BOOST_REQUIRE(f.reconciler(c)->run(false).ok());
  BOOST_TEST(*f.vault->role("agent-ghost") == (std::vector<std::string>{"custom", "t4-observer"}));
  c.drift_mode = DriftMode::detect;
  auto rep = f.reconciler(c)->run(false);
  BOOST_REQUIRE(rep.ok());
  BOOST_TEST(rep->orphans == std::vector<std::string>{"agent-ghost"});
  BOOST_TEST(rep->summary.orphans_stripped == 1);
  BOOST_TEST(*f.vault->role("agent-ghost") == std::vector<std::string>{"custom"});
  BOOST_TEST(*f.vault->role("sidecar-login") == std::vector<std::string>{"t4-observer"});
  c.delete_orphan_roles = true;
  BOOST_REQUIRE(f.reconciler(c)->run(false).ok());
  BOOST_TEST(!f.vault->role("agent-ghost").has_value());
  BOOST_TEST(f.vault->role("agent-a").has_value());
}

// Revocation steps under leases: A's lease runs out while it lists the role's secret
// IDs, and worker B claims the step; A must not destroy anything for it.
BOOST_AUTO_TEST_CASE(a_step_taken_over_mid_batch_gets_no_destroy_from_the_first_worker) {
  RevocationFixture f;
  f.add_agent("a", 2);
  f.vault->set_role("agent-a", {"t2-observer"});
  f.vault->secret_ids["agent-a"] = {{"old1", "2020-01-01T00:00:00Z"},
                                    {"old2", "2020-01-01T00:00:00Z"}};
  f.violation("a", "critical");
  f.scan();
  SyncWorkerOptions options;
  options.open_steps = [db = f.db] { return ps::engine::RevocationSteps::open({db, 5000, false}); };
  SyncConfig config;
  config.lease = 300s;
  auto worker = f.worker(config, options);
  auto b_steps = ps::engine::RevocationSteps::open({f.db, 5000, false});
  BOOST_REQUIRE(b_steps.ok());
  std::size_t taken = 0;
  f.vault->on_request = [&](const std::string& op, const std::string&) {
    if (op != "secret_ids" || taken > 0) return;
    f.clock.advance(301s);  // a slow Vault: A's lease on the step runs out
    ps::engine::ClaimRequest claim{"otherhost:2:2:b", f.clock.wall_now(), 100, 300s, nullptr};
    auto steps = (*b_steps)->claim_due(claim);
    BOOST_REQUIRE(steps.ok());
    taken = steps->size();
  };
  auto pass = worker->run_once();
  BOOST_REQUIRE_MESSAGE(pass.ok(), pass.status().message());
  BOOST_TEST(taken == 1u);
  BOOST_TEST(f.vault->count("destroy") == 0u);
  BOOST_TEST(f.vault->secret_ids["agent-a"].size() == 2u);
  BOOST_TEST(f.raw->rows("SELECT state, lease_owner FROM sidecar_revocation_steps") ==
             (std::vector<std::string>{"pending|otherhost:2:2:b"}));
}

BOOST_AUTO_TEST_SUITE_END()
