// Agent ids that differ only in case share one Vault role (role names are case-insensitive):
// the role keeps the lowest tier among them, a raise above it is parked with role_collision,
// and reconcile neither raises the role nor flips it between the agents' tiers.
#include <boost/test/unit_test.hpp>

#include "sidecar/sync/ledger_pool.h"
#include "sidecar/sync/tier_change_service.h"
#include "tests/sidecar/sync/sync_test_support.h"

using namespace ps::sidecar;
using namespace ps::sidecar::testing;

BOOST_AUTO_TEST_SUITE(role_collision)

BOOST_AUTO_TEST_CASE(bot_and_Bot_share_agent_bot_which_keeps_the_lower_tier) {
  SyncFixture f;
  f.add_agent("bot", 0);
  f.add_agent("Bot", 2);
  f.vault->set_role("agent-bot", {"t0-observer"});
  f.promote("Bot");  // Bot 2 -> 3: a raise above bot's tier 0
  auto row = f.row("Bot");
  BOOST_REQUIRE(row.has_value());
  BOOST_TEST(row->tier == 3);  // the ledger is the truth
  BOOST_TEST((row->state == ps::engine::OutboxState::failed));
  BOOST_TEST(*row->error_code == "role_collision");
  BOOST_TEST(row->policies == std::vector<std::string>{"t0-observer"});
  BOOST_TEST(row->last_error->find("shared with agent(s) bot") != std::string::npos);
  auto worker = f.worker();
  BOOST_REQUIRE(worker->run_once().ok());
  BOOST_TEST(*f.vault->role("agent-bot") == std::vector<std::string>{"t0-observer"});

  // Reconcile (mode correct, twice): the role stays at tier 0; the parked raise is not requeued.
  ReconcileConfig c;
  c.drift_mode = DriftMode::correct;
  for (int pass = 0; pass < 2; ++pass) {
    auto rep = f.reconciler(c)->run(false);
    BOOST_REQUIRE(rep.ok());
    BOOST_TEST(rep->summary.role_collisions == 1);
    BOOST_REQUIRE(worker->run_once().ok());
    BOOST_TEST(*f.vault->role("agent-bot") == std::vector<std::string>{"t0-observer"});
    BOOST_TEST(*f.row("Bot")->error_code == "role_collision");
  }

  // Someone edits the shared role up: it is lowered again (tier 0 is what the ledger justifies).
  f.vault->set_role("agent-bot", {"t3-observer"});
  BOOST_REQUIRE(f.reconciler(c)->run(false).ok());
  BOOST_REQUIRE(worker->run_once().ok());
  BOOST_TEST(*f.vault->role("agent-bot") == std::vector<std::string>{"t0-observer"});
}

BOOST_AUTO_TEST_CASE(the_lowest_agent_of_a_shared_role_pushes_normally) {
  SyncFixture f;
  f.add_agent("bot", 1);
  f.add_agent("Bot", 3);
  f.vault->set_role("agent-bot", {"t3-observer"});
  f.demote("bot", 0);
  BOOST_TEST((f.row("bot")->state == ps::engine::OutboxState::pending));
  BOOST_REQUIRE(f.worker()->run_once().ok());
  BOOST_TEST(*f.vault->role("agent-bot") == std::vector<std::string>{"t0-observer"});
}

BOOST_AUTO_TEST_SUITE_END()
