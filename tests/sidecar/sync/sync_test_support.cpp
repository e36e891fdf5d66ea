#include "tests/sidecar/sync/sync_test_support.h"

#include <boost/test/unit_test.hpp>

#include "engine/rules/rules_config.h"
#include "engine/ledger/sqlite.h"

using ps::Code;
using ps::Result;
using ps::Status;

namespace ps::sidecar::testing {

engine::Rules permissive_rules() {
  engine::Rules rules = engine::Rules::defaults();
  nlohmann::ordered_json off = {{"min_compliant_runs", 0},
                                {"min_consecutive_compliant", 0},
                                {"required_action_types", nlohmann::ordered_json::array()},
                                {"min_successful_modifications", 0},
                                {"max_violations_30d", 1000000},
                                {"requires_manual_review", false}};
  nlohmann::ordered_json section = {{"0", off}, {"1", off}, {"2", off}, {"3", off}};
  Status s = engine::apply_rules_config(section, "rules", rules);
  if (!s.ok()) throw std::runtime_error(s.message());
  return rules;
}

SyncFixture::SyncFixture(RolesConfig roles)
    : db(dir.file("ledger.db")),
      log([this](std::string_view line) {
            std::lock_guard<std::mutex> lock(log_mu);
            log_lines.emplace_back(line);
          },
          clock, LogLevel::debug, LogFormat::json) {
  // A fixed, varied sequence in [0, 1): jitter is exercised, runs are reproducible.
  auto state = std::make_shared<std::uint64_t>(12345);
  random = [state] {
    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<double>(*state >> 11) / 9007199254740992.0;
  };
  raw_ = std::make_unique<ps::testing::RawLedger>(db, true);
  auto ledger = engine::Ledger::open({db, 5000, false});
  if (!ledger.ok()) throw std::runtime_error(ledger.status().message());
  ledger_ = std::move(ledger).value();
  auto migrated = ledger_->migrate(clock.wall_now());
  if (!migrated.ok()) throw std::runtime_error(migrated.status().message());
  auto d = DesiredState::create(roles, "approle");
  if (!d.ok()) throw std::runtime_error(d.status().message());
  desired = *d;
}

void SyncFixture::add_agent(const std::string& agent, std::int64_t tier) {
  raw_->metrics(agent, tier, 0, 0);
}

void SyncFixture::add_agents(const std::string& prefix, int n, std::int64_t tier) {
  raw_->exec("BEGIN");
  for (int i = 0; i < n; ++i) {
    char name[64];
    std::snprintf(name, sizeof name, "%s%05d", prefix.c_str(), i);
    add_agent(name, tier);
  }
  raw_->exec("COMMIT");
}

engine::PromotionRecord SyncFixture::promote(const std::string& agent) {
  engine::PromotionRequest req;
  req.agent_id = agent;
  req.approved_by = "tester";
  req.now = clock.wall_now();
  auto r = ledger_->promote(req, permissive_rules(), make_outbox_hook(desired, {}, handoff));
  BOOST_REQUIRE_MESSAGE(r.ok(), r.status().message());
  return *r;
}

engine::DemotionRecord SyncFixture::demote(const std::string& agent, std::int64_t to_tier) {
  engine::DemotionRequest req;
  req.agent_id = agent;
  req.to_tier = to_tier;
  req.demoted_by = "tester";
  req.reason = "violation";
  req.now = clock.wall_now();
  auto r = ledger_->demote(req, make_outbox_hook(desired, {}, handoff));
  BOOST_REQUIRE_MESSAGE(r.ok(), r.status().message());
  return *r;
}

void SyncFixture::promote_many(const std::vector<std::string>& agents) {
  auto conn = engine::sqlite::Connection::open_existing(db, 5000);
  BOOST_REQUIRE(conn.ok());
  auto tx = engine::sqlite::Transaction::begin(**conn, engine::sqlite::Transaction::Kind::write);
  BOOST_REQUIRE(tx.ok());
  engine::LedgerTx ltx(**conn);
  for (const auto& agent : agents) {
    auto up = ltx.prepare("UPDATE agent_metrics SET current_tier = current_tier + 1 "
                          "WHERE agent_id = ?1 RETURNING current_tier");
    BOOST_REQUIRE(up.ok());
    up->bind(1, std::string_view(agent));
    BOOST_REQUIRE(up->step().value());
    const std::int64_t tier = up->column_int(0);
    BOOST_REQUIRE(up->run().ok());
    BOOST_REQUIRE(engine::write_desired_state(
                      ltx, desired->change_for(agent, tier, engine::ChangeKind::promotion,
                                               clock.wall_now()))
                      .ok());
  }
  BOOST_REQUIRE(tx->commit().ok());
}

std::optional<engine::OutboxRow> SyncFixture::row(const std::string& agent) {
  auto outbox = engine::Outbox::open({db, 5000, false});
  BOOST_REQUIRE(outbox.ok());
  auto r = (*outbox)->row(agent);
  BOOST_REQUIRE(r.ok());
  return *r;
}

engine::OutboxStats SyncFixture::stats() {
  auto outbox = engine::Outbox::open({db, 5000, false});
  BOOST_REQUIRE(outbox.ok());
  auto s = (*outbox)->stats(clock.wall_now(), 1000);
  BOOST_REQUIRE(s.ok());
  return *s;
}

std::vector<engine::SyncHistoryEntry> SyncFixture::history(const std::string& agent) {
  auto outbox = engine::Outbox::open({db, 5000, false});
  BOOST_REQUIRE(outbox.ok());
  auto h = (*outbox)->history(agent, -1);
  BOOST_REQUIRE(h.ok());
  return *h;
}

OutboxFactory SyncFixture::outbox_factory() const {
  return [path = db] { return engine::Outbox::open({path, 5000, false}); };
}

VaultApiFactory SyncFixture::vault_factory() const {
  return [state = vault]() -> std::unique_ptr<vault::VaultApi> {
    return std::make_unique<FakeVault>(state);
  };
}

std::unique_ptr<SyncWorker> SyncFixture::worker(SyncConfig config, SyncWorkerOptions options) {
  if (!options.limiter) options.limiter = std::make_shared<RateLimiter>(0, clock);
  return std::make_unique<SyncWorker>(outbox_factory(), vault_factory(), desired, config, clock,
                                      random, log, events, std::move(options));
}

std::unique_ptr<Reconciler> SyncFixture::reconciler(ReconcileConfig config,
                                                    ReconcilerOptions options) {
  return std::make_unique<Reconciler>(outbox_factory(), vault_factory(), desired, config, clock,
                                      random, log, events, std::move(options));
}

bool SyncFixture::log_contains(const std::string& text) {
  std::lock_guard<std::mutex> lock(log_mu);
  for (const auto& l : log_lines) {
    if (l.find(text) != std::string::npos) return true;
  }
  return false;
}

}  // namespace ps::sidecar::testing
