// Group commit: Ledger::promote_batch keeps every promotion all-or-nothing on its own inside
// one transaction, and PromotionCommitter gives each concurrent caller its own result.
#include <boost/test/unit_test.hpp>

#include <future>
#include <mutex>
#include <thread>

#include "engine/ledger/ledger.h"
#include "sidecar/sync/group_commit.h"
#include "tests/support/poll.h"
#include "tests/support/simulated_clock.h"
#include "tests/support/server_test_support.h"

using ps::Code;
using ps::Result;
using ps::Status;
using ps::testing::poll_until;

using namespace ps::sidecar;

namespace {
const ps::engine::Rules kDefaultRules = ps::engine::Rules::defaults();

struct Fixture {
  ps::testing::TempDir dir;
  std::string db = dir.file("ledger.db");
  ps::SimulatedClock clock;
  std::unique_ptr<ps::testing::RawLedger> raw;
  Fixture() {
    ps::testing::create_ledger(db);
    raw = std::make_unique<ps::testing::RawLedger>(db);
    auto l = ps::engine::Ledger::open({db, 5000, false});
    BOOST_REQUIRE((*l)->migrate(clock.wall_now()).ok());
    raw->exec("BEGIN");
    for (int i = 0; i < 40; ++i) {
      std::string agent = "a";  // not "a" + std::to_string(i): a GCC 12 -Wrestrict false positive
      agent += std::to_string(i);
      ps::testing::seed_ready_agent(*raw, agent, 0, clock.wall_now());
    }
    ps::testing::seed_new_agent(*raw, "new", 0);
    raw->exec("CREATE TABLE hook_log (agent TEXT)");
    raw->exec("COMMIT");
  }
  ps::engine::PromotionRequest request(const std::string& agent) {
    ps::engine::PromotionRequest r;
    r.agent_id = agent;
    r.approved_by = "batch";
    r.expected_from_tier = 0;
    r.now = clock.wall_now();
    return r;
  }
};

ps::engine::TierChangeHook logging_hook(bool fail = false) {
  return [fail](ps::engine::LedgerTx& tx, const ps::engine::TierChange& c) -> Status {
    auto st = tx.prepare("INSERT INTO hook_log VALUES (?1)");
    if (!st.ok()) return st.status();
    st->bind(1, std::string_view(c.agent_id));
    if (Status s = st->run(); !s.ok()) return s;
    return fail ? Status(Code::internal, "hook failed") : Status::success();
  };
}

}  // namespace

BOOST_AUTO_TEST_SUITE(group_commit)

BOOST_AUTO_TEST_CASE(each_entry_of_a_batch_is_all_or_nothing_on_its_own) {
  Fixture fx;
  auto ledger = std::move(ps::engine::Ledger::open({fx.db, 5000, false}).value());
  const std::vector<ps::engine::Ledger::BatchedPromotion> batch = {
      {fx.request("a0"), logging_hook()},
      {fx.request("new"), logging_hook()},       // not eligible
      {fx.request("a1"), logging_hook(true)},    // its hook fails after writing
      {fx.request("a0"), logging_hook()},        // a second approval of the same step
      {fx.request("a2"), logging_hook()},
  };
  auto results = ledger->promote_batch(batch, &kDefaultRules);
  BOOST_REQUIRE(results.size() == 5u);
  BOOST_TEST(results[0].ok());
  BOOST_TEST((results[1].status().code() == Code::failed_precondition));
  BOOST_TEST((results[2].status().code() == Code::internal));
  BOOST_TEST((results[3].status().code() == Code::aborted));
  BOOST_TEST(results[4].ok());
  BOOST_TEST(fx.raw->rows("SELECT agent_id FROM promotions ORDER BY id") ==
             (std::vector<std::string>{"a0", "a2"}));
  BOOST_TEST(fx.raw->rows("SELECT agent FROM hook_log ORDER BY rowid") ==
             (std::vector<std::string>{"a0", "a2"}));
  BOOST_TEST(fx.raw->text("SELECT current_tier FROM agent_metrics WHERE agent_id = 'a1'") == "0");
  BOOST_TEST(results[4]->id == results[0]->id + 1);
}

BOOST_AUTO_TEST_CASE(a_batch_that_cannot_take_the_lock_fails_every_entry_and_writes_nothing) {
  Fixture fx;
  auto ledger = std::move(ps::engine::Ledger::open({fx.db, 50, false}).value());
  fx.raw->exec("BEGIN IMMEDIATE");
  const std::vector<ps::engine::Ledger::BatchedPromotion> batch = {{fx.request("a0"), {}},
                                                                   {fx.request("a1"), {}}};
  auto results = ledger->promote_batch(batch, &kDefaultRules);
  fx.raw->exec("ROLLBACK");
  for (const auto& r : results) BOOST_TEST((r.status().code() == Code::unavailable));
  BOOST_TEST(fx.raw->integer("SELECT count(*) FROM promotions") == 0);
}

BOOST_AUTO_TEST_CASE(concurrent_callers_each_get_their_own_result) {
  Fixture fx;
  LedgerPool pool({fx.db, 5000, false});
  std::mutex sizes_mu;
  std::vector<std::size_t> sizes;  // each committed batch's size, in commit order
  PromotionCommitter committer(pool, fx.clock, 8, [&](std::size_t n, double) {
    std::lock_guard<std::mutex> lock(sizes_mu);
    sizes.push_back(n);
  });
  auto rules = std::make_shared<const ps::engine::Rules>(ps::engine::Rules::defaults());
  std::vector<Status> statuses(41);
  std::vector<std::int64_t> ids(41, 0);
  auto call = [&](int i, ps::engine::TierChangeHook hook) {
    const std::string agent = i < 40 ? "a" + std::to_string(i) : "new";
    auto r = committer.promote(fx.request(agent), rules, std::move(hook));
    statuses[i] = r.status();
    if (r.ok()) ids[i] = r->id;
  };

  // Caller 0 commits alone (nobody else has called yet) and its hook holds that batch open
  // until the 40 others have called: they queue behind it and must be committed together.
  std::promise<void> gate_entered;
  std::shared_future<void> release_gate;
  std::promise<void> release;
  release_gate = release.get_future().share();
  auto gate_hook = [&, inner = logging_hook()](ps::engine::LedgerTx& tx,
                                               const ps::engine::TierChange& c) -> Status {
    gate_entered.set_value();
    release_gate.wait();
    return inner(tx, c);
  };
  std::vector<std::thread> threads;
  threads.emplace_back(call, 0, gate_hook);
  BOOST_REQUIRE(gate_entered.get_future().wait_for(std::chrono::seconds{30}) ==
                std::future_status::ready);
  for (int i = 1; i <= 40; ++i) threads.emplace_back(call, i, logging_hook());
  // Then the batch sizes below are exact.
  BOOST_TEST(poll_until([&] { return committer.queued() == 40u; }, std::chrono::seconds{30}));
  release.set_value();
  for (auto& t : threads) t.join();

  for (int i = 0; i < 40; ++i) {
    BOOST_TEST(statuses[i].ok(), i << ": " << statuses[i].message());
    BOOST_TEST(fx.raw->text("SELECT agent_id FROM promotions WHERE id = " + std::to_string(ids[i])) ==
               "a" + std::to_string(i));
  }
  BOOST_TEST((statuses[40].code() == Code::failed_precondition));
  BOOST_TEST(fx.raw->integer("SELECT count(*) FROM promotions") == 40);
  BOOST_TEST(committer.promotions() == 40u);
  // Batched: the gate alone, then the 40 callers that queued behind it in full batches of 8,
  // never one commit per caller.
  std::lock_guard<std::mutex> lock(sizes_mu);
  BOOST_TEST(sizes == (std::vector<std::size_t>{1, 8, 8, 8, 8, 8}), boost::test_tools::per_element());
  BOOST_TEST(committer.batches() == sizes.size());
}

namespace {

// The outbox row of a promotion (what the tier-change service's hook writes), so a finish has
// a row to record into.
ps::engine::TierChangeHook outbox_hook(ps::engine::WallTime at) {
  return [at](ps::engine::LedgerTx& tx, const ps::engine::TierChange& c) -> Status {
    ps::engine::DesiredChange d;
    d.agent_id = c.agent_id;
    d.role = "agent-" + c.agent_id;
    d.tier = c.to_tier;
    d.policies = {"t1-observer"};
    d.at = at;
    return ps::engine::write_desired_state(tx, d);
  };
}

std::vector<ps::engine::PushOutcome> synced(const std::string& agent) {
  ps::engine::PushOutcome o;
  o.kind = ps::engine::PushOutcome::Kind::synced;
  o.agent_id = agent;
  o.revision = 1;
  o.generation = 1;
  o.wrote = true;
  o.policies_on_role = {"t1-observer"};
  return {o};
}

// Promotes `agent` through `committer`, writing its outbox row; the promotion must commit.
void promote_with_row(PromotionCommitter& committer, Fixture& fx, const std::string& agent) {
  static const auto rules = std::make_shared<const ps::engine::Rules>(ps::engine::Rules::defaults());
  auto r = committer.promote(fx.request(agent), rules, outbox_hook(fx.clock.wall_now()));
  BOOST_REQUIRE_MESSAGE(r.ok(), r.status().message());
}

}  // namespace

// With no approval committed lately a finish commits at once, even with an hour's hold: it
// never waits (the simulated clock records every wait).
BOOST_AUTO_TEST_CASE(a_finish_without_approvals_flowing_commits_at_once) {
  Fixture fx;
  LedgerPool pool({fx.db, 5000, false});
  PromotionCommitter committer(pool, fx.clock, 8, {}, std::chrono::hours{1});
  promote_with_row(committer, fx, "a0");
  PromotionCommitter fresh(pool, fx.clock, 8, {}, std::chrono::hours{1});  // has seen no promotion
  auto done = fresh.finish(synced("a0"), "w1", fx.clock.wall_now());
  BOOST_TEST(fx.clock.sleeps().empty());
  BOOST_REQUIRE_MESSAGE(done.ok(), done.status().message());
  BOOST_REQUIRE(done->size() == 1u);
  BOOST_TEST(((*done)[0].kind == ps::engine::FinishResult::Kind::applied));
  BOOST_TEST(fx.raw->text("SELECT state FROM sidecar_outbox WHERE agent_id = 'a0'") == "synced");
  BOOST_TEST(fresh.finish({}, "w1", fx.clock.wall_now())->empty());  // nothing: no batch
  BOOST_TEST(fresh.batches() == 1u);
}

// While approvals flow, a finish waits for the hold (in the injected clock's time), and with no
// approval arriving commits alone once it is over.
BOOST_AUTO_TEST_CASE(a_held_finish_commits_alone_when_no_approval_comes_within_the_hold) {
  Fixture fx;
  LedgerPool pool({fx.db, 5000, false});
  PromotionCommitter committer(pool, fx.clock, 8, {}, std::chrono::milliseconds{10});
  promote_with_row(committer, fx, "a0");
  auto done = committer.finish(synced("a0"), "w1", fx.clock.wall_now());
  BOOST_REQUIRE_MESSAGE(done.ok(), done.status().message());
  BOOST_TEST(fx.clock.sleeps() == std::vector<std::chrono::milliseconds>{std::chrono::milliseconds{10}},
             boost::test_tools::per_element());
  BOOST_TEST(committer.batches() == 2u);
  BOOST_TEST(fx.raw->text("SELECT state FROM sidecar_outbox WHERE agent_id = 'a0'") == "synced");
}

// While approvals flow, a worker's finish waits for the next approval and shares its commit:
// two batches for two promotions and a finish. (Were it held without a promotion to lead it,
// the finish would wait an hour and the test time out.) A real clock: the hold must block.
BOOST_AUTO_TEST_CASE(a_finish_rides_along_with_the_next_approval_while_approvals_flow) {
  Fixture fx;
  LedgerPool pool({fx.db, 5000, false});
  ps::RealClock real;
  std::vector<std::size_t> sizes;  // promotions per committed batch (the leader reports)
  std::mutex sizes_mu;
  PromotionCommitter committer(
      pool, real, 8,
      [&](std::size_t n, double) {
        std::lock_guard<std::mutex> lock(sizes_mu);
        sizes.push_back(n);
      },
      std::chrono::hours{1});
  promote_with_row(committer, fx, "a0");
  Result<std::vector<ps::engine::FinishResult>> done = Status(Code::internal, "not run");
  std::thread worker([&] { done = committer.finish(synced("a0"), "w1", fx.clock.wall_now()); });
  // Held, not committed alone.
  BOOST_TEST(poll_until([&] { return committer.queued() == 1u; }, std::chrono::seconds{30}));
  BOOST_TEST(committer.batches() == 1u);
  promote_with_row(committer, fx, "a1");
  worker.join();
  BOOST_REQUIRE_MESSAGE(done.ok(), done.status().message());
  BOOST_TEST(((*done)[0].kind == ps::engine::FinishResult::Kind::applied));
  BOOST_TEST(fx.raw->text("SELECT state FROM sidecar_outbox WHERE agent_id = 'a0'") == "synced");
  BOOST_TEST(fx.raw->text("SELECT state FROM sidecar_outbox WHERE agent_id = 'a1'") == "pending");
  BOOST_TEST(committer.batches() == 2u);
  std::lock_guard<std::mutex> lock(sizes_mu);
  BOOST_TEST(sizes == (std::vector<std::size_t>{1, 1}), boost::test_tools::per_element());
}

// A finish's failure stays its own: the promotions of its batch commit.
BOOST_AUTO_TEST_CASE(a_failing_finish_does_not_undo_the_promotions_it_rode_with) {
  Fixture fx;
  auto ledger = std::move(ps::engine::Ledger::open({fx.db, 5000, false}).value());
  const std::vector<ps::engine::Ledger::BatchedPromotion> batch = {{fx.request("a0"), {}}};
  const std::vector<ps::engine::Ledger::SideWrite> side = {
      [](ps::engine::LedgerTx& tx) -> Status {
        if (Status s = tx.exec("INSERT INTO hook_log VALUES ('side')"); !s.ok()) return s;
        return Status(Code::internal, "side write failed");
      },
      [](ps::engine::LedgerTx& tx) { return tx.exec("INSERT INTO hook_log VALUES ('kept')"); }};
  std::vector<Status> side_results;
  auto results = ledger->promote_batch(batch, &kDefaultRules, side, &side_results);
  BOOST_TEST(results[0].ok());
  BOOST_REQUIRE(side_results.size() == 2u);
  BOOST_TEST((side_results[0].code() == Code::internal));
  BOOST_TEST(side_results[1].ok());
  BOOST_TEST(fx.raw->integer("SELECT count(*) FROM promotions") == 1);
  BOOST_TEST(fx.raw->integer("SELECT count(*) FROM hook_log WHERE agent = 'side'") == 0);
  BOOST_TEST(fx.raw->integer("SELECT count(*) FROM hook_log WHERE agent = 'kept'") == 1);
}

BOOST_AUTO_TEST_SUITE_END()
