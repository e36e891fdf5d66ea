// The promotion transaction under a forced interleaving, on one real ledger file: something is
// injected exactly between promote()'s read of the facts and its conditional UPDATE of
// agent_metrics, deterministically (no timing, no threads).
//
// The seam is SQLite's own: every connection opened while a TierUpdateSeam lives gets a
// statement trace (sqlite3_auto_extension + sqlite3_trace_v2), and the trace of the
// promotion's "UPDATE agent_metrics ..." fires when that statement starts - after every fact
// was read, before anything was written. Production code is untouched.
//
//  1. A second connection tries to commit a competing promotion of the same step there. The
//     promotion must hold the write lock since before its read (BEGIN IMMEDIATE), so the
//     competitor cannot even start its write transaction, and the promotion commits alone.
//     With BEGIN DEFERRED the competitor takes the lock (and in WAL mode commits, after which
//     the promotion fails on its stale snapshot): this case fails.
//  2. A writer that does not honour the lock changes the tier there anyway. SQLite lets no
//     honest second connection do that under a held write lock, so the change is made through
//     the promoting connection itself (inside its transaction). The UPDATE's
//     "AND current_tier = ?" must then match no row, and promote() must give up with nothing
//     changed. Without that condition the stale evaluation is written over the new tier (a
//     second 0 -> 1 promotion): this case fails.
#include <sqlite3.h>

#include <boost/test/unit_test.hpp>

#include <functional>
#include <string>
#include <vector>

#include "engine/ledger/ledger.h"
#include "tests/support/engine_printers.h"
#include "tests/support/test_support.h"

using ps::Code;

using namespace ps::engine;
using ps::testing::RawLedger;
using ps::testing::TempDir;
using ps::testing::try_exec;

namespace {

const WallTime kNow = *parse_iso8601("2026-11-25T10:15:30.250000+00:00");

// Traces every connection opened during its lifetime; calls `on_tier_update` (once, with the
// connection running it) when an UPDATE of agent_metrics starts while armed.
class TierUpdateSeam {
 public:
  TierUpdateSeam() {
    current_ = this;
    sqlite3_auto_extension(reinterpret_cast<void (*)()>(&TierUpdateSeam::attach));
  }
  ~TierUpdateSeam() {
    sqlite3_cancel_auto_extension(reinterpret_cast<void (*)()>(&TierUpdateSeam::attach));
    current_ = nullptr;
  }
  TierUpdateSeam(const TierUpdateSeam&) = delete;
  TierUpdateSeam& operator=(const TierUpdateSeam&) = delete;

  std::function<void(sqlite3* promoting)> on_tier_update;
  bool armed = false;
  int fired = 0;

 private:
  static int attach(sqlite3* db, const char**, const sqlite3_api_routines*) {
    sqlite3_trace_v2(db, SQLITE_TRACE_STMT, &TierUpdateSeam::trace, current_);
    return SQLITE_OK;
  }
  static int trace(unsigned type, void* context, void* statement, void*) {
    auto* self = static_cast<TierUpdateSeam*>(context);
    if (type != SQLITE_TRACE_STMT || self == nullptr || !self->armed || self->fired > 0) {
      return 0;
    }
    auto* stmt = static_cast<sqlite3_stmt*>(statement);
    const std::string sql = sqlite3_sql(stmt);
    if (sql.rfind("UPDATE agent_metrics", 0) != 0) return 0;
    ++self->fired;
    if (self->on_tier_update) self->on_tier_update(sqlite3_db_handle(stmt));
    return 0;
  }
  static inline TierUpdateSeam* current_ = nullptr;
};

// A ledger with "ready" eligible for T0 -> T1 under the default rules, in `journal_mode`.
struct Fixture {
  TempDir dir;
  std::string path = dir.file("ledger.db");
  RawLedger raw{path, true};

  explicit Fixture(const std::string& journal_mode) {
    raw.exec("PRAGMA journal_mode = " + journal_mode);
    raw.metrics("ready", 0, 6, 4, 9);
    raw.action("ready", ps::testing::iso_at(kNow, std::chrono::seconds{-3600}), "generate_plan",
               "PLAN_ONLY", 1);
  }
  std::unique_ptr<Ledger> open() {
    auto l = Ledger::open({path, 200, false});
    BOOST_REQUIRE_MESSAGE(l.ok(), l.status().message());
    BOOST_REQUIRE((*l)->migrate(kNow).ok());
    return std::move(l).value();
  }
  PromotionRequest request() { return {"ready", "carol", std::nullopt, std::nullopt, kNow, {}}; }
  std::vector<std::string> promotions() {
    return raw.rows("SELECT agent_id, from_tier, to_tier, approved_by FROM promotions ORDER BY id");
  }
  std::string tier() { return raw.text("SELECT current_tier FROM agent_metrics WHERE agent_id = 'ready'"); }
};

// Each case runs in both journal modes, as two named test cases (not BOOST_DATA_TEST_CASE:
// Boost's generated "_" + index case names trip a GCC 12 -Wrestrict false positive at -O3).
void competing_commit_is_locked_out(const std::string& journal_mode) {
  Fixture fx(journal_mode);
  RawLedger competitor(fx.path);  // a second connection (another sidecar, the platform)
  sqlite3_busy_timeout(competitor.handle(), 0);
  TierUpdateSeam seam;
  auto ledger = fx.open();

  // What the competitor managed: it promotes the same step, as a second approver would.
  std::vector<std::string> competitor_steps;
  seam.on_tier_update = [&](sqlite3*) {
    sqlite3* c = competitor.handle();
    if (try_exec(c, "BEGIN IMMEDIATE") != SQLITE_OK) {
      competitor_steps.push_back(std::string("BEGIN IMMEDIATE refused: ") + sqlite3_errmsg(c));
      return;
    }
    competitor_steps.push_back("BEGIN IMMEDIATE ok");
    const int update = try_exec(c, "UPDATE agent_metrics SET current_tier = 1 "
                                   "WHERE agent_id = 'ready' AND current_tier = 0");
    competitor_steps.push_back(std::string("UPDATE ") + (update == SQLITE_OK ? "ok" : sqlite3_errmsg(c)));
    try_exec(c, "INSERT INTO promotions (timestamp, agent_id, from_tier, to_tier, approved_by, "
                "rationale, evidence) VALUES ('2026-11-25T10:15:30+00:00', 'ready', 0, 1, 'dave', "
                "'competing', '{}')");
    const int commit = try_exec(c, "COMMIT");
    competitor_steps.push_back(std::string("COMMIT ") + (commit == SQLITE_OK ? "ok" : sqlite3_errmsg(c)));
    if (commit != SQLITE_OK) try_exec(c, "ROLLBACK");
  };

  seam.armed = true;
  auto r = ledger->promote(fx.request(), Rules::defaults());
  seam.armed = false;

  BOOST_REQUIRE_MESSAGE(seam.fired == 1, "the promotion's tier UPDATE was not reached");
  // The lock was held since before the facts were read: the competitor could not start.
  std::string managed;
  for (const auto& step : competitor_steps) managed += (managed.empty() ? "" : "; ") + step;
  BOOST_TEST(managed == "BEGIN IMMEDIATE refused: database is locked");
  BOOST_REQUIRE_MESSAGE(r.ok(), r.status().message());
  BOOST_TEST(r->from_tier == 0);
  BOOST_TEST(r->to_tier == 1);
  BOOST_TEST(fx.promotions() == std::vector<std::string>{"ready|0|1|carol"},
             boost::test_tools::per_element());
  BOOST_TEST(fx.tier() == "1");
}

void changed_tier_is_caught_by_the_conditional_update(const std::string& journal_mode) {
  Fixture fx(journal_mode);
  TierUpdateSeam seam;
  auto ledger = fx.open();

  // The row as a writer that ignores the lock would leave it: the same step already taken.
  int foreign_write = -1;
  seam.on_tier_update = [&](sqlite3* promoting) {
    foreign_write =
        try_exec(promoting, "UPDATE agent_metrics SET current_tier = 1 WHERE agent_id = 'ready'");
  };

  seam.armed = true;
  auto r = ledger->promote(fx.request(), Rules::defaults());
  seam.armed = false;

  BOOST_REQUIRE_MESSAGE(seam.fired == 1, "the promotion's tier UPDATE was not reached");
  BOOST_REQUIRE(foreign_write == SQLITE_OK);
  // The evaluation said tier 0; the row no longer is: nothing may be written over it.
  if (r.ok()) {
    BOOST_FAIL("promoted " << r->from_tier << " -> " << r->to_tier
                           << " over a tier that changed after the facts were read");
  }
  BOOST_TEST((r.status().code() == Code::aborted), r.status().message());
  BOOST_TEST(r.status().message() == "Agent ready is no longer at Tier 0; nothing changed");
  BOOST_TEST(fx.promotions().empty());
  BOOST_TEST(fx.tier() == "0");  // the whole transaction, foreign write included, rolled back
  // The ledger is usable afterwards: the promotion goes through on its own.
  auto again = ledger->promote(fx.request(), Rules::defaults());
  BOOST_REQUIRE_MESSAGE(again.ok(), again.status().message());
  BOOST_TEST(fx.promotions() == std::vector<std::string>{"ready|0|1|carol"},
             boost::test_tools::per_element());
}

}  // namespace

BOOST_AUTO_TEST_SUITE(promote_interleaving)

BOOST_AUTO_TEST_CASE(a_competing_commit_between_the_facts_read_and_the_update_is_locked_out_delete) {
  competing_commit_is_locked_out("delete");
}
BOOST_AUTO_TEST_CASE(a_competing_commit_between_the_facts_read_and_the_update_is_locked_out_wal) {
  competing_commit_is_locked_out("wal");
}
BOOST_AUTO_TEST_CASE(a_tier_changed_under_the_lock_is_caught_by_the_conditional_update_delete) {
  changed_tier_is_caught_by_the_conditional_update("delete");
}
BOOST_AUTO_TEST_CASE(a_tier_changed_under_the_lock_is_caught_by_the_conditional_update_wal) {
  changed_tier_is_caught_by_the_conditional_update("wal");
}

BOOST_AUTO_TEST_SUITE_END()
