// The ledger side of sync (engine/outbox.h, Ledger::demote, the outbox hook): atomicity with
// the tier change, generations, claim order, leases, fencing, stats and reconcile writes.
#include <boost/test/unit_test.hpp>

#include <map>

#include "tests/sidecar/sync/sync_test_support.h"

using ps::Code;
using ps::Result;
using ps::Status;

using namespace ps;
using namespace ps::sidecar;
using namespace ps::sidecar::testing;
using PL = std::vector<std::string>;

namespace {

std::unique_ptr<engine::Outbox> open_outbox(SyncFixture& f) {
  auto o = engine::Outbox::open({f.db, 5000, false});
  BOOST_REQUIRE_MESSAGE(o.ok(), o.status().message());
  return std::move(o).value();
}

std::int64_t count(SyncFixture& f, const std::string& sql) {
  ps::testing::RawLedger raw(f.db);
  return raw.integer(sql);
}

engine::ClaimRequest claim(SyncFixture& f, const std::string& owner, std::int64_t limit = 100) {
  return engine::ClaimRequest{owner, f.clock.wall_now(), limit, std::chrono::minutes{5}, {}};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(outbox)

BOOST_AUTO_TEST_CASE(promotion_and_its_outbox_row_commit_together) {
  SyncFixture f;
  f.add_agent("a1", 0);
  auto rec = f.promote("a1");
  auto row = f.row("a1");
  BOOST_REQUIRE(row.has_value());
  BOOST_TEST(row->tier == 1);
  BOOST_TEST(row->policies == (PL{"t1-observer"}), boost::test_tools::per_element());
  BOOST_TEST(*row->role == "agent-a1");
  BOOST_TEST(row->generation == 1);
  BOOST_TEST((row->state == engine::OutboxState::pending));
  BOOST_TEST((row->kind == engine::ChangeKind::promotion));
  BOOST_TEST((row->changed_at == engine::parse_iso8601(rec.timestamp).value()));
}

BOOST_AUTO_TEST_CASE(a_failing_hook_rolls_back_the_promotion_and_the_row) {
  SyncFixture f;
  f.add_agent("a1", 0);
  auto ledger = engine::Ledger::open({f.db, 5000, false});
  engine::PromotionRequest req;
  req.agent_id = "a1";
  req.approved_by = "x";
  req.now = f.clock.wall_now();
  auto hook = chain_hooks(make_outbox_hook(f.desired), [](engine::LedgerTx&, const engine::TierChange&) {
    return Status(Code::unavailable, "disk full");
  });
  auto r = (*ledger)->promote(req, permissive_rules(), hook);
  BOOST_TEST(!r.ok());
  BOOST_TEST(count(f, "SELECT COUNT(*) FROM promotions") == 0);
  BOOST_TEST(count(f, "SELECT COUNT(*) FROM sidecar_outbox") == 0);
  BOOST_TEST(count(f, "SELECT current_tier FROM agent_metrics WHERE agent_id = 'a1'") == 0);
}

BOOST_AUTO_TEST_CASE(generation_grows_with_every_change_and_pending_since_keeps_the_first) {
  SyncFixture f;
  f.add_agent("a1", 0);
  f.promote("a1");
  const auto first = f.row("a1")->pending_since;
  f.clock.advance(std::chrono::seconds{1});
  f.promote("a1");
  f.clock.advance(std::chrono::seconds{1});
  f.demote("a1", 0);
  auto row = f.row("a1");
  BOOST_TEST(row->generation == 3);
  BOOST_TEST(row->revision == 3);
  BOOST_TEST(row->tier == 0);
  BOOST_TEST((row->kind == engine::ChangeKind::demotion));
  BOOST_TEST((row->pending_since == first));  // Vault has been behind since the first change
}

BOOST_AUTO_TEST_CASE(demotion_is_recorded_apart_and_leaves_promotions_untouched) {
  SyncFixture f;
  f.add_agent("a1", 3);
  auto rec = f.demote("a1", 1);
  BOOST_TEST(rec.from_tier == 3);
  BOOST_TEST(rec.to_tier == 1);
  BOOST_TEST(count(f, "SELECT COUNT(*) FROM promotions") == 0);
  BOOST_TEST(count(f, "SELECT COUNT(*) FROM sidecar_demotions WHERE agent_id = 'a1' AND "
                      "from_tier = 3 AND to_tier = 1 AND reason = 'violation'") == 1);
  BOOST_TEST(count(f, "SELECT current_tier FROM agent_metrics WHERE agent_id = 'a1'") == 1);
  BOOST_TEST(f.row("a1")->policies == (PL{"t1-observer"}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(demotion_refuses_unknown_agents_non_demotions_and_moved_tiers) {
  SyncFixture f;
  f.add_agent("a1", 2);
  auto ledger = engine::Ledger::open({f.db, 5000, false});
  engine::DemotionRequest req;
  req.agent_id = "ghost";
  req.to_tier = 0;
  req.demoted_by = "x";
  req.reason = "r";
  req.now = f.clock.wall_now();
  auto hook = make_outbox_hook(f.desired);
  BOOST_TEST((((*ledger)->demote(req, hook)).status().code() == Code::failed_precondition));
  req.agent_id = "a1";
  req.to_tier = 2;
  BOOST_TEST((((*ledger)->demote(req, hook)).status().code() == Code::failed_precondition));
  req.to_tier = 7;
  BOOST_TEST((((*ledger)->demote(req, hook)).status().code() == Code::invalid_argument));
  req.to_tier = 0;
  req.expected_from_tier = 3;
  BOOST_TEST((((*ledger)->demote(req, hook)).status().code() == Code::aborted));
  BOOST_TEST(count(f, "SELECT COUNT(*) FROM sidecar_demotions") == 0);
  BOOST_TEST(count(f, "SELECT COUNT(*) FROM sidecar_outbox") == 0);
}

BOOST_AUTO_TEST_CASE(claims_take_demotions_first_then_the_oldest_and_lease_them) {
  SyncFixture f;
  for (const char* a : {"p1", "p2", "d1"}) f.add_agent(a, 2);
  f.promote("p2");
  f.clock.advance(std::chrono::milliseconds{5});
  f.promote("p1");
  f.clock.advance(std::chrono::milliseconds{5});
  f.demote("d1", 0);
  auto o = open_outbox(f);
  auto rows = o->claim_due(claim(f, "w1"));
  BOOST_REQUIRE(rows.ok());
  std::vector<std::string> order;
  for (const auto& r : *rows) order.push_back(r.agent_id);
  BOOST_TEST(order == (PL{"d1", "p2", "p1"}), boost::test_tools::per_element());
  BOOST_TEST(*(*rows)[0].lease_owner == "w1");
  BOOST_TEST((*rows)[0].revision == 2);  // the claim bumped it
  BOOST_TEST(o->claim_due(claim(f, "w2"))->empty());  // leased to a live owner
  BOOST_TEST(o->claim_due(claim(f, "w1"))->size() == 3u);  // a worker may retake its own
}

BOOST_AUTO_TEST_CASE(workers_split_the_agents_and_ids_sharing_a_role_share_a_partition) {
  SyncFixture f;
  std::vector<std::string> agents;
  for (int i = 0; i < 40; ++i) agents.push_back("agent-" + std::to_string(i));
  for (const auto& a : agents) {
    f.add_agent(a, 1);
    f.promote(a);
  }
  auto o = open_outbox(f);
  std::map<std::string, int> taken_by;
  for (std::uint32_t w = 0; w < 4; ++w) {
    auto c = claim(f, "w" + std::to_string(w));
    c.partition = w;
    c.partitions = 4;
    auto rows = o->claim_due(c);
    BOOST_REQUIRE(rows.ok());
    BOOST_TEST(!rows->empty());  // 40 agents: every worker gets some
    for (const auto& r : *rows) {
      BOOST_TEST(taken_by.count(r.agent_id) == 0u, r.agent_id);  // never two workers
      taken_by[r.agent_id] = static_cast<int>(w);
    }
  }
  BOOST_TEST(taken_by.size() == agents.size());  // and every agent one of them
  BOOST_TEST(engine::agent_partition("BOT", 7) == engine::agent_partition("bot", 7));
  BOOST_TEST(engine::agent_partition("anything", 1) == 0u);
}

// serve hands a change's row to the worker of its partition inside the change's transaction
// (make_outbox_hook with a Handoff): that worker's claim reads it, with no write lock and the
// revision the change wrote. Here another connection holds the write lock throughout, and the
// outbox waits at most 50 ms for it.
BOOST_AUTO_TEST_CASE(a_row_handed_to_a_worker_is_taken_without_a_write_lock) {
  SyncFixture f;
  f.add_agent("h1", 0);
  f.add_agent("c1", 0);
  f.handoff = [](std::string_view) { return Handoff{"w1", std::chrono::minutes{5}}; };
  f.promote("h1");
  f.clock.advance(std::chrono::milliseconds{5});
  f.handoff = {};
  f.promote("c1");  // not handed: claimed as usual
  auto handed = f.row("h1");
  BOOST_TEST(handed->lease_owner.value_or("") == "w1");
  BOOST_TEST((handed->lease_until == f.clock.wall_now() - std::chrono::milliseconds{5} +
                                         std::chrono::minutes{5}));
  BOOST_TEST(!f.row("c1")->lease_owner.has_value());

  auto o = engine::Outbox::open({f.db, 50, false});
  BOOST_REQUIRE(o.ok());
  ps::testing::RawLedger writer(f.db);
  writer.exec("BEGIN IMMEDIATE");
  auto first = (*o)->claim_due(claim(f, "w1", 1));  // the oldest row only: h1, handed
  BOOST_REQUIRE_MESSAGE(first.ok(), first.status().message());
  BOOST_REQUIRE(first->size() == 1u);
  BOOST_TEST((*first)[0].agent_id == "h1");
  BOOST_TEST((*first)[0].revision == handed->revision);  // not bumped: no claim was written
  BOOST_TEST(*(*first)[0].lease_owner == "w1");
  BOOST_TEST((*o)->finish({}, "w1", f.clock.wall_now()).ok());  // nothing to record: no lock
  BOOST_TEST(!(*o)->claim_due(claim(f, "w1")).ok());  // c1 needs a claim: the lock is held
  writer.exec("ROLLBACK");
  auto other = (*o)->claim_due(claim(f, "w2"));
  BOOST_REQUIRE(other.ok());
  BOOST_REQUIRE(other->size() == 1u);  // h1 stays w1's
  BOOST_TEST((*other)[0].agent_id == "c1");
  BOOST_TEST((*other)[0].revision == 2);  // claimed: the revision bumped
}

// A change whose row is under a live lease (a push of the previous change in flight) keeps that
// lease: the push finds the row superseded and gives it up. A parked row is never handed.
BOOST_AUTO_TEST_CASE(a_hand_off_keeps_a_live_lease_and_skips_parked_rows) {
  SyncFixture f;
  f.add_agent("a1", 0);
  f.add_agent("bad/../id", 0);
  f.promote("a1");
  auto o = open_outbox(f);
  auto claimed = o->claim_due(claim(f, "w2"));
  BOOST_REQUIRE(claimed->size() == 1u);
  f.handoff = [](std::string_view) { return Handoff{"w1", std::chrono::minutes{5}}; };
  f.promote("a1");
  auto row = f.row("a1");
  BOOST_TEST(row->lease_owner.value_or("") == "w2");
  BOOST_TEST(row->revision == (*claimed)[0].revision + 1);  // the change fenced w2's push
  f.promote("bad/../id");
  BOOST_TEST((f.row("bad/../id")->state == engine::OutboxState::failed));
  BOOST_TEST(!f.row("bad/../id")->lease_owner.has_value());
  // Once w2's lease has run out, the next change is handed again.
  f.clock.advance(std::chrono::minutes{6});
  f.promote("a1");
  BOOST_TEST(f.row("a1")->lease_owner.value_or("") == "w1");
}

BOOST_AUTO_TEST_CASE(rows_not_yet_due_are_not_claimed_until_made_due) {
  SyncFixture f;
  f.add_agent("a1", 0);
  f.promote("a1");
  auto o = open_outbox(f);
  auto rows = *o->claim_due(claim(f, "w"));
  engine::PushOutcome retry;
  retry.kind = engine::PushOutcome::Kind::retry;
  retry.agent_id = "a1";
  retry.revision = rows[0].revision;
  retry.generation = rows[0].generation;
  retry.next_attempt_at = f.clock.wall_now() + std::chrono::minutes{10};
  BOOST_REQUIRE(o->finish({retry}, "w", f.clock.wall_now()).ok());
  BOOST_TEST(o->claim_due(claim(f, "w"))->empty());
  BOOST_TEST(*o->make_all_due(f.clock.wall_now()) == 1);
  BOOST_TEST(o->claim_due(claim(f, "w"))->size() == 1u);
}

BOOST_AUTO_TEST_CASE(finish_after_a_change_puts_the_row_back_only_if_the_push_wrote) {
  SyncFixture f;
  f.add_agent("a1", 0);
  f.add_agent("a2", 0);
  f.promote("a1");
  f.promote("a2");
  auto o = open_outbox(f);
  auto rows = *o->claim_due(claim(f, "w"));
  BOOST_REQUIRE(rows.size() == 2u);
  f.promote("a1");  // generation 2 while a1's push is in flight
  f.promote("a2");
  std::vector<engine::PushOutcome> outcomes;
  for (const auto& r : rows) {
    engine::PushOutcome o1;
    o1.kind = engine::PushOutcome::Kind::synced;
    o1.agent_id = r.agent_id;
    o1.revision = r.revision;
    o1.generation = r.generation;
    o1.wrote = r.agent_id == "a1";
    outcomes.push_back(o1);
  }
  auto results = o->finish(outcomes, "w", f.clock.wall_now());
  BOOST_REQUIRE(results.ok());
  BOOST_TEST(((*results)[0].kind == engine::FinishResult::Kind::superseded));
  BOOST_TEST(((*results)[1].kind == engine::FinishResult::Kind::superseded));
  auto a1 = f.row("a1");
  auto a2 = f.row("a2");
  BOOST_TEST((a1->state == engine::OutboxState::pending));
  BOOST_TEST(a1->synced_generation == 0);
  BOOST_TEST(a1->revision == rows[0].revision + 2);  // the promotion, then the invalidation
  BOOST_TEST(a2->revision == rows[1].revision + 1);  // only the promotion: nothing was written
  BOOST_TEST(!a1->lease_owner.has_value());
  BOOST_TEST(!a2->lease_owner.has_value());
}

BOOST_AUTO_TEST_CASE(stats_count_states_and_the_oldest_pending_change) {
  SyncFixture f;
  f.add_agent("a1", 0);
  f.add_agent("a2", 0);
  f.add_agent("bad id", 0);
  const auto first = f.clock.wall_now();
  f.promote("a1");
  f.clock.advance(std::chrono::seconds{3});
  f.promote("a2");
  f.promote("bad id");
  auto s = f.stats();
  BOOST_TEST(s.pending == 2);
  BOOST_TEST(s.failed == 1);
  BOOST_TEST(s.synced == 0);
  BOOST_TEST((s.oldest_pending_since == first));
  BOOST_REQUIRE(s.failed_rows.size() == 1u);
  BOOST_TEST(s.failed_rows[0].agent_id == "bad id");
}

BOOST_AUTO_TEST_CASE(repairs_are_written_only_if_nothing_changed_since_the_read) {
  SyncFixture f;
  f.add_agent("a1", 1);
  f.add_agent("a2", 1);
  f.promote("a2");  // a2 now at 2, generation 1
  auto o = open_outbox(f);
  engine::ReconcileWrites w;
  w.now = f.clock.wall_now();
  w.repairs.push_back({f.desired->change_for("a1", 1, engine::ChangeKind::repair, w.now), 0, 1, false});
  // computed from an older read: tier 1 and no row, but a2 was promoted since
  w.repairs.push_back({f.desired->change_for("a2", 1, engine::ChangeKind::repair, w.now), 0, 1, false});
  w.drift.push_back({engine::format_isoformat_utc(w.now), "a1", "agent-a1", "policies",
                     {"t1-observer"}, PL{"t4-observer"}, "correct", "repair"});
  auto r = o->write_reconcile(w);
  BOOST_REQUIRE(r.ok());
  BOOST_TEST(r->repairs_written == 1);
  BOOST_TEST((f.row("a1")->kind == engine::ChangeKind::repair));
  BOOST_TEST(f.row("a2")->tier == 2);
  auto drift = o->drift("a1", 10);
  BOOST_REQUIRE(drift->size() == 1u);
  BOOST_TEST((*drift)[0].found.value() == (PL{"t4-observer"}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(requeue_takes_a_parked_row_back_only_at_its_revision) {
  SyncFixture f;
  f.add_agent("a1", 0);
  f.promote("a1");
  auto o = open_outbox(f);
  auto rows = *o->claim_due(claim(f, "w"));
  engine::PushOutcome parked;
  parked.kind = engine::PushOutcome::Kind::parked;
  parked.agent_id = "a1";
  parked.revision = rows[0].revision;
  parked.generation = rows[0].generation;
  parked.error_code = "role_missing";
  BOOST_REQUIRE(o->finish({parked}, "w", f.clock.wall_now()).ok());
  engine::ReconcileWrites stale;
  stale.now = f.clock.wall_now();
  stale.requeues.push_back({"a1", rows[0].revision - 1});
  BOOST_TEST(o->write_reconcile(stale)->requeued == 0);
  engine::ReconcileWrites good = stale;
  good.requeues = {{"a1", rows[0].revision}};
  BOOST_TEST(o->write_reconcile(good)->requeued == 1);
  auto row = f.row("a1");
  BOOST_TEST((row->state == engine::OutboxState::pending));
  BOOST_TEST(row->attempts == 0);
}

BOOST_AUTO_TEST_CASE(opening_the_outbox_of_an_unmigrated_ledger_names_migrate) {
  ps::testing::TempDir dir;
  ps::testing::RawLedger raw(dir.file("l.db"), true);
  auto o = engine::Outbox::open({dir.file("l.db"), 5000, false});
  BOOST_TEST(!o.ok());
  BOOST_TEST((o.status().code() == Code::failed_precondition));
  BOOST_TEST(o.status().message().find("policy-sidecar migrate") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(history_is_pruned_to_the_newest_rows) {
  SyncFixture f;
  f.add_agent("a1", 0);
  f.promote("a1");
  auto o = open_outbox(f);
  for (int i = 0; i < 5; ++i) {
    auto rows = *o->claim_due(claim(f, "w"));
    engine::PushOutcome retry;
    retry.kind = engine::PushOutcome::Kind::retry;
    retry.agent_id = "a1";
    retry.revision = rows[0].revision;
    retry.next_attempt_at = f.clock.wall_now();
    BOOST_REQUIRE(o->finish({retry}, "w", f.clock.wall_now()).ok());
  }
  BOOST_TEST(o->history("a1", -1)->size() == 5u);
  BOOST_TEST(*o->prune_history(2) == 3);
  BOOST_TEST(o->history("a1", -1)->size() == 2u);
}

BOOST_AUTO_TEST_SUITE_END()
