// The sync worker against the in-memory FakeVault with a SimulatedClock (no sleeping): what
// reaches Vault, how each error class is handled, and the ordering/fencing rules.
#include <boost/test/unit_test.hpp>

#include "tests/support/simulated_clock.h"
#include "tests/sidecar/sync/sync_test_support.h"

using namespace ps;
using namespace ps::sidecar;
using namespace ps::sidecar::testing;
using PL = std::vector<std::string>;
using std::chrono::milliseconds;

namespace {

engine::PromotionRecord promote_with_role(SyncFixture& f, const std::string& agent,
                                          PL current = {"t0-observer"}) {
  f.vault->set_role(SyncFixture::role_of(agent), std::move(current));
  return f.promote(agent);
}

PassStats pass(SyncWorker& w) {
  auto r = w.run_once();
  BOOST_REQUIRE_MESSAGE(r.ok(), r.status().message());
  return *r;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(sync_worker)

BOOST_AUTO_TEST_CASE(promotion_reaches_vault_and_keeps_unmanaged_policies) {
  SyncFixture f;
  f.add_agent("a1", 0);
  promote_with_role(f, "a1", {"t0-observer", "custom"});
  auto w = f.worker();
  auto stats = pass(*w);
  BOOST_TEST(stats.synced == 1);
  BOOST_TEST(*f.vault->role("agent-a1") == (PL{"custom", "t1-observer"}), boost::test_tools::per_element());
  auto row = f.row("a1");
  BOOST_TEST((row->state == engine::OutboxState::synced));
  BOOST_TEST(row->synced_generation == row->generation);
  BOOST_TEST(!row->lease_owner.has_value());
  auto h = f.history("a1");
  BOOST_REQUIRE(h.size() == 1u);
  BOOST_TEST(h[0].outcome == "synced");
  BOOST_REQUIRE(f.events.synced.size() == 1u);
  BOOST_TEST(f.events.synced[0].wrote);
  // read, write, read back
  BOOST_TEST(f.vault->calls == (PL{"read agent-a1", "write agent-a1", "read agent-a1"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(exclusive_mode_writes_exactly_the_tier_list_without_reading_first) {
  RolesConfig roles;
  roles.exclusive = true;
  SyncFixture f(roles);
  f.add_agent("a1", 0);
  promote_with_role(f, "a1", {"t0-observer", "custom"});
  auto w = f.worker();
  pass(*w);
  BOOST_TEST(*f.vault->role("agent-a1") == (PL{"t1-observer"}), boost::test_tools::per_element());
  BOOST_TEST(f.vault->calls == (PL{"write agent-a1", "read agent-a1"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(role_already_in_step_is_not_written) {
  SyncFixture f;
  f.add_agent("a1", 0);
  promote_with_role(f, "a1", {"T1-Observer", "custom"});  // Vault compares lowercased
  auto w = f.worker();
  BOOST_TEST(pass(*w).synced == 1);
  BOOST_TEST(f.vault->count("write") == 0u);
  BOOST_TEST(!f.events.synced.at(0).wrote);
}

BOOST_AUTO_TEST_CASE(missing_role_is_parked_with_the_reason_and_left_alone) {
  SyncFixture f;
  f.add_agent("a1", 0);
  f.promote("a1");  // no role in Vault
  auto w = f.worker();
  auto stats = pass(*w);
  BOOST_TEST(stats.parked == 1);
  auto row = f.row("a1");
  BOOST_TEST((row->state == engine::OutboxState::failed));
  BOOST_TEST(*row->error_code == "role_missing");
  BOOST_TEST(row->last_error->find("auth/approle/role/agent-a1") != std::string::npos);
  BOOST_TEST(f.stats().failed_rows.size() == 1u);
  BOOST_TEST(f.events.parked.at(0).reason == "role_missing");
  BOOST_TEST(f.log_contains("sync.parked"));
  const auto calls = f.vault->requests();
  f.clock.advance(std::chrono::hours{1});
  pass(*w);
  BOOST_TEST(f.vault->requests() == calls);  // parked rows wait for the reconciler
}

BOOST_AUTO_TEST_CASE(missing_role_is_created_when_configured) {
  RolesConfig roles;
  roles.missing_role = MissingRole::create;
  SyncFixture f(roles);
  f.add_agent("a1", 0);
  f.promote("a1");
  auto w = f.worker();
  BOOST_TEST(pass(*w).synced == 1);
  BOOST_TEST(*f.vault->role("agent-a1") == (PL{"t1-observer"}), boost::test_tools::per_element());
  BOOST_TEST(f.vault->count("create agent-a1") == 1u);
}

BOOST_AUTO_TEST_CASE(permission_denied_is_parked_and_not_retried_in_a_loop) {
  SyncFixture f;
  f.add_agent("a1", 0);
  f.add_agent("a2", 0);
  promote_with_role(f, "a1");
  promote_with_role(f, "a2");
  f.vault->denied_writes.insert("agent-a1");
  auto w = f.worker();
  for (int i = 0; i < 20; ++i) {
    pass(*w);
    f.clock.advance(std::chrono::minutes{1});
  }
  BOOST_TEST(f.vault->count("write agent-a1") == 1u);
  BOOST_TEST((f.row("a1")->state == engine::OutboxState::failed));
  BOOST_TEST(*f.row("a1")->error_code == "permission_denied");
  BOOST_TEST((f.row("a2")->state == engine::OutboxState::synced));  // others unaffected
  BOOST_TEST(w->health().vault_available);
}

BOOST_AUTO_TEST_CASE(invalid_request_is_parked) {
  SyncFixture f;
  f.add_agent("a1", 0);
  promote_with_role(f, "a1");
  f.vault->faults.push_back(vault::classify_http(400, {"invalid 'token_type' value"}, {}));
  auto w = f.worker();
  BOOST_TEST(pass(*w).parked == 1);
  BOOST_TEST(*f.row("a1")->error_code == "invalid_request");
}

// 1,000 pending agents and a Vault sealed for 60 simulated seconds: the worker pauses as a
// whole and probes with one push at a time, so the requests are bounded by the pause
// schedule (half of each step is fixed), not by the number of agents.
BOOST_AUTO_TEST_CASE(sealed_vault_requests_follow_the_backoff_not_the_number_of_agents) {
  SyncFixture f;
  f.add_agents("s", 1000, 0);
  std::vector<std::string> agents;
  for (int i = 0; i < 1000; ++i) {
    char name[16];
    std::snprintf(name, sizeof name, "s%05d", i);
    f.vault->set_role(SyncFixture::role_of(name), {"t0-observer"});
    agents.push_back(name);
  }
  f.promote_many(agents);
  f.vault->sealed = true;
  SyncConfig config;  // 1 s doubling to 300 s
  auto w = f.worker(config);
  const auto start = f.clock.steady_now();
  const auto outage = std::chrono::seconds{60};
  while (f.clock.steady_now() - start < outage) {
    pass(*w);
    f.clock.advance(milliseconds{50});
  }
  // Probes happen when pauses end; pause n lasts at least ceiling(n) / 2.
  std::size_t bound = 1;
  milliseconds elapsed{0};
  for (int n = 0;; ++n) {
    const auto ceiling = std::min<milliseconds>(milliseconds{1000} * (1LL << std::min(n, 20)),
                                                milliseconds{300000});
    elapsed += ceiling / 2;
    if (elapsed > outage) break;
    ++bound;
  }
  const std::size_t sealed_requests = f.vault->requests();
  BOOST_TEST(sealed_requests >= 2u);
  BOOST_TEST(sealed_requests <= bound);
  BOOST_TEST(!f.events.unavailable.empty());
  BOOST_TEST(!w->health().vault_available);
  BOOST_TEST(f.stats().pending == 1000);  // nothing lost, nothing parked
  BOOST_TEST(f.stats().failed == 0);

  f.vault->sealed = false;
  for (int i = 0; i < 200 && f.stats().pending > 0; ++i) {
    pass(*w);
    f.clock.advance(std::chrono::seconds{5});
  }
  BOOST_TEST(f.stats().synced == 1000);
  BOOST_TEST(f.events.available >= 1);
  BOOST_TEST(*f.vault->role("agent-s00999") == (PL{"t1-observer"}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(retry_after_is_honoured_by_the_row_and_the_pause) {
  SyncFixture f;
  f.add_agent("a1", 0);
  f.add_agent("a2", 0);
  promote_with_role(f, "a1");
  promote_with_role(f, "a2");
  f.vault->faults.push_back(vault::classify_http(429, {"rate limited"}, std::chrono::seconds{30}));
  auto w = f.worker();
  const auto failed_at = f.clock.wall_now();
  auto stats = pass(*w);
  BOOST_TEST(stats.retried == 1);
  BOOST_TEST(stats.released == 1);  // the rest of the batch is left for later, untouched
  BOOST_TEST(stats.paused);
  const auto failed = f.row("a1")->attempts == 1 ? f.row("a1") : f.row("a2");
  BOOST_TEST(failed->attempts == 1);
  BOOST_TEST((failed->next_attempt_at - failed_at >= std::chrono::seconds{30}));
  BOOST_TEST(*failed->error_code == "rate_limited");
  const auto calls = f.vault->requests();
  f.clock.advance(std::chrono::seconds{29});
  pass(*w);
  BOOST_TEST(f.vault->requests() == calls);  // still paused
  f.clock.advance(std::chrono::seconds{2});
  pass(*w);
  BOOST_TEST(f.stats().synced >= 1);
}

BOOST_AUTO_TEST_CASE(a_rows_retry_delay_is_full_jitter_over_a_capped_doubling_ceiling) {
  // SyncWorker::row_backoff: after the n-th failure in a row the outbox row waits
  // random * min(backoff_max, backoff_initial * multiplier^(n-1)). With the random source
  // fixed at 0.5 that is exactly half the ceiling: 0.5 s, 1 s, 2 s, ... up to 150 s (half the
  // 300 s cap). A schedule without jitter (the whole ceiling), with "equal" jitter (c/2 +
  // r*c/2 = 0.75 c), another base, multiplier or cap, or one that does not grow with the
  // attempts fails here.
  SyncFixture f;
  f.random = [] { return 0.5; };
  f.add_agent("a1", 0);
  promote_with_role(f, "a1");
  f.vault->sealed = true;  // every request fails the same Vault-wide way
  SyncConfig config;       // 1 s doubling to 300 s
  auto w = f.worker(config);
  const std::vector<milliseconds> expected = {
      milliseconds{500},   milliseconds{1000},  milliseconds{2000},   milliseconds{4000},
      milliseconds{8000},  milliseconds{16000}, milliseconds{32000},  milliseconds{64000},
      milliseconds{128000}, milliseconds{150000}, milliseconds{150000}, milliseconds{150000}};
  for (std::size_t n = 1; n <= expected.size(); ++n) {
    const auto failed_at = f.clock.wall_now();
    const auto stats = pass(*w);
    BOOST_REQUIRE_MESSAGE(stats.retried == 1, "failure " << n);
    const auto row = f.row("a1");
    BOOST_REQUIRE(row.has_value());
    BOOST_TEST(row->attempts == static_cast<std::int64_t>(n));
    const auto delay = std::chrono::duration_cast<milliseconds>(row->next_attempt_at - failed_at);
    BOOST_TEST(delay.count() == expected[n - 1].count(),
               "after failure " << n << " the row waits " << delay.count() << " ms, not "
                                << expected[n - 1].count() << " ms");
    // The next probe comes when the worker's pause ends (never before the row is due).
    const auto paused_until = w->health().paused_until;
    BOOST_REQUIRE(paused_until.has_value());
    const auto wait = std::chrono::duration_cast<milliseconds>(*paused_until - f.clock.steady_now());
    BOOST_REQUIRE(wait >= expected[n - 1]);
    f.clock.advance(wait);
  }
  BOOST_TEST(f.stats().pending == 1);  // still waiting, nothing parked
}

BOOST_AUTO_TEST_CASE(server_error_burst_converges_with_attempts_recorded) {
  SyncFixture f;
  f.add_agent("a1", 0);
  promote_with_role(f, "a1");
  for (int status : {500, 502, 503}) {
    f.vault->faults.push_back(vault::classify_http(status, {"boom"}, {}));
  }
  auto w = f.worker();
  for (int i = 0; i < 50 && f.stats().synced == 0; ++i) {
    pass(*w);
    f.clock.advance(std::chrono::seconds{10});
  }
  BOOST_TEST(f.stats().synced == 1);
  auto h = f.history("a1");
  BOOST_REQUIRE(h.size() == 4u);
  BOOST_TEST(h[0].outcome == "synced");
  BOOST_TEST(h[3].outcome == "retry");
  BOOST_TEST(*h[3].error_code == "server_error");
}

BOOST_AUTO_TEST_CASE(own_token_problems_pause_the_worker_instead_of_parking_agents) {
  SyncFixture f;
  f.add_agent("a1", 0);
  promote_with_role(f, "a1");
  f.vault->faults.push_back(vault::Error::make(vault::ErrorCode::invalid_token,
                                               vault::Action::give_up,
                                               "the configured token was rejected"));
  f.vault->faults.push_back(vault::Error::make(vault::ErrorCode::auth_unavailable,
                                               vault::Action::retry, "login failed"));
  auto w = f.worker();
  pass(*w);
  BOOST_TEST((f.row("a1")->state == engine::OutboxState::pending));
  BOOST_TEST(!w->health().vault_available);
  for (int i = 0; i < 20 && f.stats().synced == 0; ++i) {
    f.clock.advance(std::chrono::seconds{10});
    pass(*w);
  }
  BOOST_TEST(f.stats().synced == 1);
  BOOST_TEST(f.events.parked.empty());
}

BOOST_AUTO_TEST_CASE(read_back_that_differs_is_retried_for_that_agent_only) {
  SyncFixture f;
  f.add_agent("a1", 0);
  f.add_agent("a2", 0);
  promote_with_role(f, "a1");
  promote_with_role(f, "a2");
  bool meddled = false;
  f.vault->after_write = [&](const std::string& role) {
    if (role == "agent-a1" && !meddled) {
      meddled = true;
      f.vault->set_role(role, {"someone-else"});
    }
  };
  auto w = f.worker();
  auto stats = pass(*w);
  BOOST_TEST(stats.retried == 1);
  BOOST_TEST(stats.synced == 1);  // a2 went on: Vault itself is fine
  BOOST_TEST(!stats.paused);
  BOOST_TEST(*f.row("a1")->error_code == "readback_mismatch");
  f.clock.advance(std::chrono::seconds{5});
  pass(*w);
  BOOST_TEST(*f.vault->role("agent-a1") == (PL{"someone-else", "t1-observer"}),
             boost::test_tools::per_element());
}

// A demotion committed while the promotion is being pushed: the stale push is recorded as
// superseded and the demotion's list is pushed after it, in the same pass.
BOOST_AUTO_TEST_CASE(change_during_the_push_is_superseded_and_the_newer_state_wins) {
  SyncFixture f;
  f.add_agent("a1", 1);
  f.vault->set_role("agent-a1", {"t1-observer"});
  f.promote("a1");  // 1 -> 2
  bool demoted = false;
  f.vault->on_request = [&](const std::string& op, const std::string&) {
    if (op == "write" && !demoted) {
      demoted = true;
      f.demote("a1", 0);
    }
  };
  auto w = f.worker();
  auto stats = pass(*w);
  BOOST_TEST(stats.superseded == 1);
  BOOST_TEST(stats.synced == 1);
  BOOST_TEST(*f.vault->role("agent-a1") == (PL{"t0-observer"}), boost::test_tools::per_element());
  auto row = f.row("a1");
  BOOST_TEST(row->generation == 2);
  BOOST_TEST(row->synced_generation == 2);
  BOOST_TEST((row->kind == engine::ChangeKind::demotion));
  auto h = f.history("a1");
  BOOST_REQUIRE(h.size() == 2u);
  BOOST_TEST(h[1].outcome == "superseded");
  BOOST_TEST(h[0].outcome == "synced");
}

BOOST_AUTO_TEST_CASE(demotions_are_pushed_before_promotions_then_oldest_first) {
  SyncFixture f;
  for (const char* a : {"p1", "p2", "d1"}) {
    f.add_agent(a, 2);
    f.vault->set_role(SyncFixture::role_of(a), {"t2-observer"});
  }
  f.promote("p2");
  f.clock.advance(milliseconds{10});
  f.promote("p1");
  f.clock.advance(milliseconds{10});
  f.demote("d1", 0);
  SyncConfig config;
  config.batch_size = 1;
  auto w = f.worker(config);
  pass(*w);
  std::vector<std::string> writes;
  for (const auto& c : f.vault->calls) {
    if (c.rfind("write", 0) == 0) writes.push_back(c);
  }
  BOOST_TEST(writes == (PL{"write agent-d1", "write agent-p2", "write agent-p1"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(rows_leased_by_a_live_worker_wait_and_a_dead_workers_rows_are_taken) {
  SyncFixture f;
  f.add_agent("a1", 0);
  promote_with_role(f, "a1");
  {
    auto outbox = engine::Outbox::open({f.db, 5000, false});
    engine::ClaimRequest claim{"otherhost:1:1:0", f.clock.wall_now(), 10, std::chrono::minutes{5},
                               {}};
    BOOST_REQUIRE((*outbox)->claim_due(claim)->size() == 1u);
  }
  bool owner_dead = false;
  SyncWorkerOptions options;
  options.owner_is_dead = [&](std::string_view) { return owner_dead; };
  auto w = f.worker({}, options);
  BOOST_TEST(pass(*w).claimed == 0);
  BOOST_TEST(f.stats().leased == 1);
  owner_dead = true;
  BOOST_TEST(pass(*w).synced == 1);
}

BOOST_AUTO_TEST_CASE(an_expired_lease_is_taken_over) {
  SyncFixture f;
  f.add_agent("a1", 0);
  promote_with_role(f, "a1");
  {
    auto outbox = engine::Outbox::open({f.db, 5000, false});
    engine::ClaimRequest claim{"otherhost:1:1:0", f.clock.wall_now(), 10,
                               std::chrono::seconds{30}, {}};
    BOOST_REQUIRE((*outbox)->claim_due(claim)->size() == 1u);
  }
  auto w = f.worker();
  BOOST_TEST(pass(*w).claimed == 0);
  f.clock.advance(std::chrono::seconds{31});
  BOOST_TEST(pass(*w).synced == 1);
}

// Two workers whose leases expire at once (the worst case): worker B takes the row over while
// worker A is still pushing the older promotion. A's stale write lands after B's; the fencing
// puts the row back to pending and the newest state is pushed again.
BOOST_AUTO_TEST_CASE(a_stale_write_by_a_second_worker_is_always_followed_by_the_newest) {
  SyncFixture f;
  f.add_agent("a1", 1);
  f.vault->set_role("agent-a1", {"t1-observer"});
  f.promote("a1");  // 1 -> 2, generation 1
  SyncConfig config;
  config.lease = milliseconds{0};
  SyncWorkerOptions oa, ob;
  oa.owner = "host:1:1:a";
  ob.owner = "host:1:1:b";
  auto a = f.worker(config, oa);
  auto b = f.worker(config, ob);
  bool raced = false;
  f.vault->on_request = [&](const std::string& op, const std::string&) {
    if (op != "write" || raced) return;
    raced = true;  // inside A's write of generation 1, before it lands
    f.demote("a1", 0);
    auto r = b->run_once();
    BOOST_REQUIRE(r.ok());
    BOOST_TEST(r->synced == 1);
  };
  auto ra = a->run_once();
  BOOST_REQUIRE(ra.ok());
  BOOST_TEST(ra->superseded == 1);
  BOOST_TEST(*f.vault->role("agent-a1") == (PL{"t0-observer"}), boost::test_tools::per_element());
  auto row = f.row("a1");
  BOOST_TEST((row->state == engine::OutboxState::synced));
  BOOST_TEST(row->synced_generation == row->generation);
}

BOOST_AUTO_TEST_CASE(rate_limit_spaces_the_requests_on_the_clock) {
  SyncFixture f;
  for (int i = 0; i < 5; ++i) {
    std::string a = "r";  // not "r" + std::to_string(i): a GCC 12 -Wrestrict false positive
    a += std::to_string(i);
    f.add_agent(a, 0);
    promote_with_role(f, a);
  }
  SyncWorkerOptions options;
  options.limiter = std::make_shared<RateLimiter>(10, f.clock);  // burst 10
  auto w = f.worker({}, options);
  const auto start = f.clock.steady_now();
  pass(*w);
  BOOST_TEST(f.vault->requests() == 15u);  // 3 per agent
  // 10 at once, the other 5 at 100 ms intervals.
  BOOST_TEST((f.clock.steady_now() - start >= milliseconds{500}));
  BOOST_TEST((f.clock.steady_now() - start < milliseconds{600}));
}

BOOST_AUTO_TEST_CASE(stop_releases_the_claims_not_yet_pushed) {
  SyncFixture f;
  for (const char* a : {"x1", "x2", "x3"}) {
    f.add_agent(a, 0);
    promote_with_role(f, a);
  }
  auto w = f.worker();
  f.vault->after_write = [&](const std::string&) { w->request_stop(); };
  auto stats = pass(*w);
  BOOST_TEST(stats.synced == 1);
  BOOST_TEST(stats.released == 2);
  auto s = f.stats();
  BOOST_TEST(s.pending == 2);
  BOOST_TEST(s.leased == 0);
  for (const auto& r : {f.row("x1"), f.row("x2"), f.row("x3")}) BOOST_TEST(r->attempts == 0);
}

BOOST_AUTO_TEST_CASE(agent_id_that_cannot_name_a_role_commits_and_is_parked) {
  SyncFixture f;
  f.add_agent("bad/../id", 0);
  f.promote("bad/../id");
  auto row = f.row("bad/../id");
  BOOST_TEST((row->state == engine::OutboxState::failed));
  BOOST_TEST(*row->error_code == "invalid_role_name");
  BOOST_TEST(!row->role.has_value());
  auto w = f.worker();
  pass(*w);
  BOOST_TEST(f.vault->requests() == 0u);
}

// The daemon's loop: a commit's wake() starts a pass at once instead of after the (here one
// hour) poll interval; should_stop ends the loop.
BOOST_AUTO_TEST_CASE(run_loop_is_woken_by_a_commit_and_stops_when_asked) {
  SyncFixture f;
  f.add_agent("a1", 0);
  f.add_agent("a2", 0);
  promote_with_role(f, "a1");
  SyncConfig config;
  config.poll_interval = std::chrono::hours{1};
  auto w = f.worker(config);
  const auto start = f.clock.steady_now();
  bool queued = false;
  w->run([&] {
    if (!queued && f.stats().synced == 1) {
      queued = true;
      promote_with_role(f, "a2");
      w->wake();
    }
    return f.stats().synced == 2;
  });
  BOOST_TEST(f.stats().synced == 2);
  BOOST_TEST((f.clock.steady_now() - start < std::chrono::minutes{1}));  // woken, not polled
}

// serve hands each change to its partition's worker (SyncWorker::handoff) until that worker
// stops. A row handed to it in the race with its stop is not stranded under its lease: the
// stopped worker retires its owner id, so its successor claims the row at once.
BOOST_AUTO_TEST_CASE(a_worker_takes_rows_handed_to_it_and_its_successor_those_it_left) {
  SyncFixture f;
  f.add_agent("a1", 0);
  f.add_agent("a2", 0);
  SyncConfig config;
  config.poll_interval = std::chrono::hours{1};
  auto w = f.worker(config);
  const auto to = w->handoff();
  BOOST_REQUIRE(to.has_value());
  BOOST_TEST((to->lease == config.lease));
  f.handoff = [&](std::string_view) { return w->handoff(); };
  promote_with_role(f, "a1");
  BOOST_TEST(f.row("a1")->lease_owner.value_or("") == to->owner);
  BOOST_TEST(pass(*w).synced == 1);
  BOOST_TEST(f.history("a1").back().outcome == "synced");

  w->request_stop();
  BOOST_TEST(!w->handoff().has_value());
  f.handoff = [&](std::string_view) { return to; };  // a hand-off that raced the stop
  promote_with_role(f, "a2");
  BOOST_TEST(f.row("a2")->lease_owner.value_or("") == to->owner);
  BOOST_TEST(!lease_owner_is_dead(to->owner));
  w->run([] { return true; });
  BOOST_TEST(lease_owner_is_dead(to->owner));
  auto successor = f.worker(config);
  BOOST_TEST(pass(*successor).synced == 1);
  BOOST_TEST((f.row("a2")->state == engine::OutboxState::synced));
}

// A worker re-checks its lease before each write, so a slow Vault never makes it write rows
// another worker has taken over. Here A's
// lease runs out inside its first Vault call (the simulated clock jumps past it) and worker B
// claims every row; A must not write any of them, and B's claims stay B's.
BOOST_AUTO_TEST_CASE(rows_whose_lease_expired_mid_batch_and_were_taken_over_are_not_written) {
  SyncFixture f;
  for (const char* a : {"m1", "m2", "m3"}) {
    f.add_agent(a, 0);
    promote_with_role(f, a);
  }
  SyncConfig config;
  config.lease = std::chrono::seconds{300};
  auto a = f.worker(config);
  auto b_outbox = f.outbox_factory()();
  BOOST_REQUIRE(b_outbox.ok());
  std::size_t taken = 0;
  f.vault->on_request = [&](const std::string& op, const std::string&) {
    if (op != "read" || taken > 0) return;
    f.clock.advance(std::chrono::seconds{301});  // a slow Vault: A's lease runs out
    engine::ClaimRequest claim{"otherhost:2:2:b", f.clock.wall_now(), 100,
                               std::chrono::seconds{300}, nullptr};
    auto rows = (*b_outbox)->claim_due(claim);
    BOOST_REQUIRE(rows.ok());
    taken = rows->size();
  };
  auto r = a->run_once();
  BOOST_REQUIRE_MESSAGE(r.ok(), r.status().message());
  BOOST_TEST(taken == 3u);
  BOOST_TEST(f.vault->count("write") == 0u);  // no write for a row A no longer held
  BOOST_TEST(r->synced == 0);
  for (const char* agent : {"m1", "m2", "m3"}) {
    auto row = f.row(agent);
    BOOST_REQUIRE(row.has_value());
    BOOST_TEST((row->state == engine::OutboxState::pending));
    BOOST_TEST(row->lease_owner.value_or("") == "otherhost:2:2:b");
    BOOST_TEST(*f.vault->role(SyncFixture::role_of(agent)) == (PL{"t0-observer"}),
               boost::test_tools::per_element());
  }
  BOOST_TEST(f.log_contains("sync.lease_lost"));
}

// The same slow Vault without a second worker: the lease is renewed before the write (it is
// still A's), the rest of the batch is cut and claimed again under a fresh lease, and every
// row is synced.
BOOST_AUTO_TEST_CASE(a_short_lease_is_renewed_before_a_write_and_the_batch_is_cut_to_it) {
  SyncFixture f;
  for (const char* a : {"n1", "n2", "n3"}) {
    f.add_agent(a, 0);
    promote_with_role(f, a);
  }
  SyncConfig config;
  config.lease = std::chrono::seconds{300};
  SyncWorkerOptions options;
  options.vault_request_deadline = std::chrono::seconds{60};
  auto a = f.worker(config, options);
  bool slowed = false;
  engine::WallTime renewed_from{};
  f.vault->on_request = [&](const std::string& op, const std::string&) {
    if (op != "read" || slowed) return;
    slowed = true;
    f.clock.advance(std::chrono::seconds{250});  // 50 s left: less than a write needs (120 s)
    renewed_from = f.clock.wall_now();
  };
  auto r = a->run_once();
  BOOST_REQUIRE_MESSAGE(r.ok(), r.status().message());
  BOOST_TEST(r->synced == 3);
  BOOST_TEST(r->lease_lost == 0);
  BOOST_TEST(r->released == 2);  // cut after the first row, then claimed again
  BOOST_TEST(f.vault->count("write") == 3u);
  BOOST_TEST(f.log_contains("sync.batch_cut"));
  for (const char* agent : {"n1", "n2", "n3"}) {
    BOOST_TEST((f.row(agent)->state == engine::OutboxState::synced));
  }
}

BOOST_AUTO_TEST_SUITE_END()
