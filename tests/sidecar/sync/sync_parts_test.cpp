// The small parts of sync: desired state (merge and compare rules), the rate limiter, lease
// owners and crash points.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <fstream>

#include "sidecar/sync/checkpoint.h"
#include "sidecar/sync/desired_state.h"
#include "sidecar/sync/lease.h"
#include "sidecar/sync/rate_limiter.h"
#include "tests/support/test_support.h"
#include "tests/support/simulated_clock.h"

using namespace ps;
using namespace ps::sidecar;
using PL = std::vector<std::string>;
using std::chrono::milliseconds;

namespace {

std::shared_ptr<const DesiredState> state(RolesConfig roles = {}) {
  auto d = DesiredState::create(roles, "approle");
  BOOST_REQUIRE_MESSAGE(d.ok(), d.status().message());
  return *d;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(desired_state)

BOOST_AUTO_TEST_CASE(merge_replaces_the_managed_part_and_keeps_the_rest) {
  auto d = state();
  BOOST_TEST(d->merged({"t0-observer", "Custom", "db-read"}, {"t2-observer"}) ==
                 (PL{"custom", "db-read", "t2-observer"}),
             boost::test_tools::per_element());
  BOOST_TEST(d->managed().size() == 5u);
}

BOOST_AUTO_TEST_CASE(exclusive_owns_the_whole_list) {
  RolesConfig roles;
  roles.exclusive = true;
  auto d = state(roles);
  BOOST_TEST(d->merged({"t0-observer", "custom"}, {"t2-observer"}) == (PL{"t2-observer"}),
             boost::test_tools::per_element());
  BOOST_TEST(!d->matches({"t2-observer", "custom"}, {"t2-observer"}));
}

BOOST_AUTO_TEST_CASE(matching_compares_sorted_lowercase_sets_of_the_managed_part) {
  auto d = state();
  BOOST_TEST(d->matches({"custom", " T2-Observer", "t2-observer"}, {"t2-observer"}));
  BOOST_TEST(!d->matches({"t2-observer", "t3-observer"}, {"t2-observer"}));
  BOOST_TEST(!d->matches({"custom"}, {"t2-observer"}));
  BOOST_TEST(d->matches({}, {}));
}

BOOST_AUTO_TEST_CASE(change_for_maps_tier_and_role_or_explains_why_not) {
  auto d = state();
  auto c = d->change_for("Agent-7", 3, engine::ChangeKind::demotion, {});
  BOOST_TEST(*c.role == "agent-agent-7");
  BOOST_TEST(c.policies == (PL{"t3-observer"}), boost::test_tools::per_element());
  auto bad = d->change_for("../x", 1, engine::ChangeKind::promotion, {});
  BOOST_TEST(!bad.role.has_value());
  BOOST_TEST(bad.problem->find("cannot name a Vault role") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(bad_roles_settings_are_refused_naming_the_key) {
  RolesConfig missing_tier;
  missing_tier.tier_policies.erase(3);
  BOOST_TEST(DesiredState::create(missing_tier, "approle").status().message().find("\"3\" is missing") !=
             std::string::npos);
  RolesConfig upper;
  upper.tier_policies[2] = {"T2"};
  BOOST_TEST(DesiredState::create(upper, "approle").status().message().find(
                 "roles.tier_policies.\"2\"[0]") != std::string::npos);
  RolesConfig root;
  root.tier_policies[4] = {"root"};
  BOOST_TEST(!DesiredState::create(root, "approle").ok());
  RolesConfig tmpl;
  tmpl.name_template = "agent";
  BOOST_TEST(DesiredState::create(tmpl, "approle").status().message().find("roles.name_template") !=
             std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(rate_limiter)

BOOST_AUTO_TEST_CASE(a_token_arrives_exactly_when_due) {
  SimulatedClock clock;
  RateLimiter limiter(1, clock, 1);  // one per second, no burst
  const auto start = clock.steady_now();
  limiter.acquire();  // the bucket starts full
  BOOST_TEST((clock.steady_now() == start));
  clock.advance(milliseconds{999});
  BOOST_TEST(!limiter.try_acquire());
  BOOST_TEST(limiter.wait_time().count() == 1);
  clock.advance(milliseconds{1});
  BOOST_TEST(limiter.try_acquire());
  limiter.acquire();  // waits a full second through the clock
  BOOST_TEST(clock.sleeps().back().count() == 1000);
}

BOOST_AUTO_TEST_CASE(burst_then_the_rate) {
  SimulatedClock clock;
  RateLimiter limiter(100, clock);
  const auto start = clock.steady_now();
  for (int i = 0; i < 300; ++i) limiter.acquire();
  // 100 from the full bucket, 200 more at 100/s.
  const auto took = std::chrono::duration_cast<milliseconds>(clock.steady_now() - start);
  BOOST_TEST(took.count() >= 1990);
  BOOST_TEST(took.count() <= 2010);
}

BOOST_AUTO_TEST_CASE(zero_means_unlimited) {
  SimulatedClock clock;
  RateLimiter limiter(0, clock);
  for (int i = 0; i < 10000; ++i) limiter.acquire();
  BOOST_TEST(clock.sleeps().empty());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(lease_owner)

// A worker that stopped retires its id: its leases are broken at once; its siblings' are not.
BOOST_AUTO_TEST_CASE(a_retired_worker_of_this_process_is_dead_and_its_siblings_are_not) {
  const std::string& me = this_process_lease_owner();
  const std::string retired = me + ":retired-in-test";
  BOOST_TEST(!lease_owner_is_dead(retired));
  retire_lease_owner(retired);
  BOOST_TEST(lease_owner_is_dead(retired));
  BOOST_TEST(!lease_owner_is_dead(me + ":sibling"));
  BOOST_TEST(!lease_owner_is_dead(me));
  retire_lease_owner("otherhost:1:1:w");  // another host's worker: only expiry breaks it
  BOOST_TEST(!lease_owner_is_dead("otherhost:1:1:w"));
}

BOOST_AUTO_TEST_CASE(this_process_is_alive_and_a_reaped_child_is_dead) {
  const std::string& me = this_process_lease_owner();
  BOOST_TEST(!lease_owner_is_dead(me));
  BOOST_TEST(!lease_owner_is_dead(me + ":sibling"));
  const std::string host = me.substr(0, me.find(':'));
  const pid_t child = ::fork();
  if (child == 0) {
    ::pause();
    ::_exit(0);
  }
  // A live child with the wrong start time: the pid was recycled, so the owner is gone.
  BOOST_TEST(lease_owner_is_dead(host + ":" + std::to_string(child) + ":1"));
  ::kill(child, SIGKILL);
  // Killed but not yet reaped (a zombie) counts as dead too.
  for (int i = 0; i < 100; ++i) {
    std::ifstream stat("/proc/" + std::to_string(child) + "/stat");
    std::string s;
    std::getline(stat, s);
    if (s.find(") Z") != std::string::npos) break;
    ::usleep(10000);
  }
  BOOST_TEST(lease_owner_is_dead(host + ":" + std::to_string(child) + ":0"));
  ::waitpid(child, nullptr, 0);
  BOOST_TEST(lease_owner_is_dead(host + ":" + std::to_string(child) + ":0:1"));
}

BOOST_AUTO_TEST_CASE(other_hosts_and_garbage_are_never_declared_dead) {
  BOOST_TEST(!lease_owner_is_dead("some-other-host:1:1"));
  BOOST_TEST(!lease_owner_is_dead("nonsense"));
  BOOST_TEST(!lease_owner_is_dead(""));
  const std::string& me = this_process_lease_owner();
  const std::string host = me.substr(0, me.find(':'));
  BOOST_TEST(!lease_owner_is_dead(host + ":abc:1"));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(crash_points)

BOOST_AUTO_TEST_CASE(unset_or_malformed_specs_are_inert) {
  BOOST_TEST(!crash_checkpoint(std::nullopt));
  BOOST_TEST(!crash_checkpoint(std::string()));
  BOOST_TEST(!crash_checkpoint(std::string("sync.after_write")));
  BOOST_TEST(!crash_checkpoint(std::string("sync.after_write:x")));
  BOOST_TEST(!crash_checkpoint(std::string("sync.after_write:0")));
}

BOOST_AUTO_TEST_CASE(the_named_point_kills_on_its_nth_hit) {
  const pid_t child = ::fork();
  if (child == 0) {
    auto cp = crash_checkpoint(std::string("sync.after_write:3"));
    cp("sync.after_claim");
    cp("sync.after_write");
    cp("sync.after_write");
    cp("sync.before_finish");
    cp("sync.after_write");  // the third: SIGKILL
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  BOOST_TEST(WIFSIGNALED(status));
  BOOST_TEST(WTERMSIG(status) == SIGKILL);
}

BOOST_AUTO_TEST_SUITE_END()
