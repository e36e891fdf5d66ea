// Versioned migrations: applied once, recorded, atomic, concurrent-safe, never touching the
// upstream tables' columns or rows.
#include <boost/test/unit_test.hpp>
#include <thread>

#include "engine/ledger/ledger.h"
#include "tests/support/test_support.h"
#include "tests/support/engine_printers.h"

using ps::Code;
using ps::Result;
using ps::Status;

using namespace ps::engine;
using ps::testing::RawLedger;
using ps::testing::TempDir;


namespace {

const WallTime kNow = *parse_iso8601("2026-11-25T10:15:30Z");

std::unique_ptr<Ledger> open_ok(const std::string& path, std::int64_t busy_ms = 2000) {
  auto l = Ledger::open({path, busy_ms, false});
  BOOST_REQUIRE_MESSAGE(l.ok(), l.status().message());
  return std::move(l).value();
}

// Everything the platform owns, as text: table definitions, column lists, all rows.
std::string upstream_snapshot(RawLedger& raw) {
  std::string out;
  for (const char* table : {"agent_metrics", "agent_actions", "violations", "promotions"}) {
    for (const auto& r : raw.rows(std::string("SELECT sql FROM sqlite_master WHERE name = '") + table + "'")) out += r + "\n";
    for (const auto& r : raw.rows(std::string("PRAGMA table_info(") + table + ")")) out += r + "\n";
    for (const auto& r : raw.rows(std::string("SELECT * FROM ") + table + " ORDER BY rowid")) out += r + "\n";
  }
  return out;
}

struct Fixture {
  TempDir dir;
  std::string path = dir.file("ledger.db");
  RawLedger raw{path, true};
  Fixture() {
    raw.metrics("a", 1, 12, 6, 20);
    raw.action("a", "2026-11-20T10:00:00+00:00", "ansible_check", "EXECUTE", 1);
    raw.violation("a", "2026-11-01T00:00:00+00:00");
    raw.exec("INSERT INTO promotions (timestamp, agent_id, from_tier, to_tier, approved_by) "
             "VALUES ('2026-10-01T00:00:00+00:00', 'a', 0, 1, 'alice')");
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(migrations)

BOOST_AUTO_TEST_CASE(migrate_applies_each_version_once_and_records_it) {
  Fixture fx;
  auto l = open_ok(fx.path);
  BOOST_TEST(*l->schema_version() == 0);
  auto applied = l->migrate(kNow);
  BOOST_REQUIRE(applied.ok());
  BOOST_REQUIRE(applied->size() == ledger_migrations().size());
  BOOST_TEST((*applied)[0].version == 1);
  BOOST_TEST((*applied)[0].name == "evaluation_indexes");
  BOOST_TEST(*l->schema_version() == ledger_migrations().back().version);
  BOOST_TEST(fx.raw.rows("SELECT version, name, applied_at FROM sidecar_schema_migrations")[0] ==
             "1|evaluation_indexes|2026-11-25T10:15:30+00:00");
  BOOST_TEST(fx.raw.integer("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND "
                            "name LIKE 'sidecar_%' AND tbl_name IN ('agent_actions', 'violations')") == 4);
}

BOOST_AUTO_TEST_CASE(migrating_again_is_a_no_op) {
  Fixture fx;
  auto l = open_ok(fx.path);
  BOOST_REQUIRE(l->migrate(kNow).ok());
  const std::string schema = fx.raw.rows("SELECT group_concat(sql, ';') FROM sqlite_master")[0];
  auto again = open_ok(fx.path)->migrate(kNow + std::chrono::hours(1));
  BOOST_REQUIRE(again.ok());
  BOOST_TEST(again->empty());
  BOOST_TEST(fx.raw.rows("SELECT group_concat(sql, ';') FROM sqlite_master")[0] == schema);
  BOOST_TEST(fx.raw.integer("SELECT count(*) FROM sidecar_schema_migrations") ==
             static_cast<std::int64_t>(ledger_migrations().size()));
}

BOOST_AUTO_TEST_CASE(migrations_leave_upstream_tables_columns_and_rows_unchanged) {
  Fixture fx;
  const std::string before = upstream_snapshot(fx.raw);
  BOOST_REQUIRE(open_ok(fx.path)->migrate(kNow).ok());
  RawLedger fresh(fx.path);
  BOOST_TEST(upstream_snapshot(fresh) == before);
}

BOOST_AUTO_TEST_CASE(failing_migration_rolls_back_and_records_nothing) {
  Fixture fx;
  const Migration broken[] = {
      {1, "evaluation_indexes", ledger_migrations()[0].sql},
      {2, "half_done", "CREATE TABLE sidecar_half (x); INSERT INTO no_such_table VALUES (1);"},
  };
  auto l = open_ok(fx.path);
  auto r = l->migrate(kNow, broken);
  BOOST_TEST(!r.ok());
  BOOST_TEST(r.status().message().find("migration 2 (half_done) failed, nothing applied") == 0u,
             r.status().message());
  BOOST_TEST(*l->schema_version() == 1);  // version 1 committed on its own
  BOOST_TEST(fx.raw.integer("SELECT count(*) FROM sqlite_master WHERE name = 'sidecar_half'") == 0);
}

BOOST_AUTO_TEST_CASE(concurrent_migrations_apply_each_version_exactly_once) {
  for (int round = 0; round < 5; ++round) {
    Fixture fx;
    const Migration with_row[] = {
        {1, "evaluation_indexes", ledger_migrations()[0].sql},
        {2, "counter", "CREATE TABLE sidecar_counter (n); INSERT INTO sidecar_counter VALUES (1);"},
    };
    Status results[2];
    std::thread threads[2];
    for (int t = 0; t < 2; ++t) {
      threads[t] = std::thread([&, t] {
        auto l = Ledger::open({fx.path, 10000, false});
        results[t] = l.ok() ? l.value()->migrate(kNow, with_row).status() : l.status();
      });
    }
    for (auto& t : threads) t.join();
    BOOST_TEST(results[0].ok(), results[0].message());
    BOOST_TEST(results[1].ok(), results[1].message());
    BOOST_TEST(fx.raw.integer("SELECT count(*) FROM sidecar_counter") == 1);
    BOOST_TEST(fx.raw.integer("SELECT count(*) FROM sidecar_schema_migrations") == 2);
  }
}

BOOST_AUTO_TEST_CASE(locked_ledger_makes_migrate_unavailable_after_the_busy_timeout) {
  Fixture fx;
  fx.raw.exec("BEGIN IMMEDIATE");
  auto l = open_ok(fx.path, 100);
  auto r = l->migrate(kNow);
  BOOST_TEST(r.status().code() == Code::unavailable);
  BOOST_TEST(r.status().message().find("ledger is locked by another process; gave up after 100 ms") == 0u);
  fx.raw.exec("ROLLBACK");
  BOOST_TEST(*l->schema_version() == 0);
  BOOST_TEST(l->migrate(kNow).ok());
}

BOOST_AUTO_TEST_CASE(ledger_migrated_by_a_newer_sidecar_is_refused_for_writes_only) {
  Fixture fx;
  auto l = open_ok(fx.path);
  BOOST_REQUIRE(l->migrate(kNow).ok());
  fx.raw.exec("INSERT INTO sidecar_schema_migrations VALUES (99, 'future', 'x')");
  const Status s = l->check_schema_not_newer();
  BOOST_TEST(s.code() == Code::failed_precondition);
  BOOST_TEST(s.message().find("ledger schema version 99 is newer than this policy-sidecar supports (" +
                              std::to_string(ledger_migrations().back().version) + ")") == 0u);
  BOOST_TEST(l->agent_facts("a", kNow).ok());
  auto history = l->applied_migrations();
  BOOST_REQUIRE(history.ok());
  BOOST_TEST(history->size() == ledger_migrations().size() + 1);
}

BOOST_AUTO_TEST_CASE(version_added_below_an_applied_one_is_still_applied) {
  Fixture fx;
  const Migration first[] = {
      {1, "evaluation_indexes", ledger_migrations()[0].sql},
      {4, "four", "CREATE TABLE sidecar_four (x);"},
  };
  const Migration later[] = {
      {1, "evaluation_indexes", ledger_migrations()[0].sql},
      {2, "two", "CREATE TABLE sidecar_two (x);"},
      {4, "four", "CREATE TABLE sidecar_four (x);"},
  };
  auto l = open_ok(fx.path);
  BOOST_REQUIRE(l->migrate(kNow, first).ok());
  BOOST_TEST(l->check_schema_not_newer(later).ok());
  auto applied = l->migrate(kNow, later);
  BOOST_REQUIRE(applied.ok());
  BOOST_REQUIRE(applied->size() == 1u);
  BOOST_TEST((*applied)[0].version == 2);
  BOOST_TEST(fx.raw.integer("SELECT count(*) FROM sqlite_master WHERE name = 'sidecar_two'") == 1);
  // A build that knows 1 and 4 but not 2 must not write to this ledger.
  const Status s = l->check_schema_not_newer(first);
  BOOST_TEST(s.code() == Code::failed_precondition);
  BOOST_TEST(s.message() == "ledger schema version 2 (two) is unknown to this policy-sidecar; "
                            "upgrade policy-sidecar before writing to this ledger");
}

BOOST_AUTO_TEST_SUITE_END()
