// The small parts of sync: desired state (merge and compare rules), the config sections, the
// Vault settings from config + VAULT_*, the rate limiter, lease owners and crash points.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <fstream>

#include "sidecar/config/config.h"
#include "sidecar/sync/checkpoint.h"
#include "sidecar/sync/desired_state.h"
#include "sidecar/sync/lease.h"
#include "sidecar/sync/rate_limiter.h"
#include "sidecar/config/vault_setup.h"
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

std::string config_error(const std::string& text) {
  auto c = parse_config(text, "test.json");
  BOOST_REQUIRE(!c.ok());
  return c.status().message();
}

vault::EnvGetter env(std::map<std::string, std::string> vars) {
  return [vars](const char* name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
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

BOOST_AUTO_TEST_SUITE(sync_config)

BOOST_AUTO_TEST_CASE(sections_parse_with_their_defaults) {
  auto c = parse_config(R"({
    "vault": {"address": "https://vault.internal:8200", "ca_cert": "/etc/ca.pem",
              "timeout_s": 5, "max_retries": 4, "retry": {"initial_ms": 250},
              "auth": {"method": "approle", "role_id_file": "/r", "secret_id_file": "/s"}},
    "roles": {"name_template": "ai-{agent_id}", "exclusive": true, "missing_role": "create",
              "tier_policies": {"0": [], "1": ["a"], "2": ["b"], "3": ["c"], "4": ["d", "e"]}},
    "sync": {"batch_size": 50, "rate_limit_per_s": 0, "backoff": {"max_ms": 60000}},
    "reconcile": {"drift_mode": "correct", "interval_s": 60, "concurrency": 8}
  })", "t");
  BOOST_REQUIRE_MESSAGE(c.ok(), c.status().message());
  BOOST_TEST(c->vault.address == "https://vault.internal:8200");
  BOOST_TEST(c->vault.request_timeout.count() == 5000);
  BOOST_TEST(c->vault.retry.max_attempts == 5u);
  BOOST_TEST(c->vault.retry.initial.count() == 250);
  BOOST_TEST((c->vault.auth.method == vault::AuthMethod::approle));
  BOOST_TEST(c->roles.exclusive);
  BOOST_TEST((c->roles.missing_role == MissingRole::create));
  BOOST_TEST(c->roles.tier_policies.at(4) == (PL{"d", "e"}), boost::test_tools::per_element());
  BOOST_TEST(c->sync.batch_size == 50);
  BOOST_TEST(c->sync.backoff_max.count() == 60000);
  BOOST_TEST(c->sync.backoff_initial.count() == 1000);
  BOOST_TEST((c->reconcile.drift_mode == DriftMode::correct));
  BOOST_TEST(c->reconcile.page_size == 500);
}

BOOST_AUTO_TEST_CASE(defaults_without_the_sections) {
  auto c = parse_config("{}", "t");
  BOOST_REQUIRE(c.ok());
  BOOST_TEST(c->vault.address == "https://127.0.0.1:8200");
  BOOST_TEST(c->vault.retry.max_attempts == 3u);
  BOOST_TEST(c->vault.auth.require_private_files);
  BOOST_TEST(c->sync.rate_limit_per_s == 500);
  BOOST_TEST((c->reconcile.drift_mode == DriftMode::detect));
  BOOST_TEST((c->roles.missing_role == MissingRole::report));
}

BOOST_AUTO_TEST_CASE(unknown_keys_and_wrong_types_name_the_key_path) {
  BOOST_TEST(config_error(R"({"vault": {"adress": "x"}})").find("vault.adress: unknown key") !=
             std::string::npos);
  BOOST_TEST(config_error(R"({"sync": {"backoff": {"initial_ms": "1"}}})")
                 .find("sync.backoff.initial_ms: must be an integer") != std::string::npos);
  BOOST_TEST(config_error(R"({"reconcile": {"drift_mode": "fix"}})")
                 .find("reconcile.drift_mode: must be ignore, detect or correct") !=
             std::string::npos);
  BOOST_TEST(config_error(R"({"roles": {"tier_policies": {"5": []}}})")
                 .find("roles.tier_policies.\"5\"") != std::string::npos);
  BOOST_TEST(config_error(R"({"roles": {"tier_policies": {"1": [7]}}})")
                 .find("roles.tier_policies.\"1\"[0]: must be a string") != std::string::npos);
  BOOST_TEST(config_error(R"({"vault": {"auth": {"token": "hvs.x"}}})")
                 .find("a token never goes into the config file") != std::string::npos);
  BOOST_TEST(config_error(R"({"vault": {"auth": {"token": "hvs.x"}}})").find("hvs.x") ==
             std::string::npos);
  BOOST_TEST(config_error(R"({"sync": {"backoff": {"initial_ms": 5000, "max_ms": 10}}})")
                 .find("sync.backoff") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(vault_environment_overrides_the_file) {
  auto c = parse_config(R"({"vault": {"address": "https://file:8200", "timeout_s": 9}})", "t");
  BOOST_REQUIRE(c.ok());
  auto eff = effective_vault_config(
      c->vault, env({{"VAULT_ADDR", "https://env:8200"}, {"VAULT_TOKEN", "s.secret-token"}}));
  BOOST_REQUIRE_MESSAGE(eff.ok(), eff.status().message());
  BOOST_TEST(eff->address == "https://env:8200");
  BOOST_TEST(eff->request_timeout.count() == 9000);
  BOOST_TEST((eff->auth.method == vault::AuthMethod::token));
  auto bad = effective_vault_config(c->vault, env({{"VAULT_ADDR", "ftp://x"}}));
  BOOST_TEST(!bad.ok());
  BOOST_TEST(bad.status().message().rfind("vault: ", 0) == 0u);
}

BOOST_AUTO_TEST_CASE(secret_files_readable_by_others_are_refused) {
  ps::testing::TempDir dir;
  const std::string role_id = dir.file("role_id"), secret = dir.file("secret_id");
  std::ofstream(role_id) << "r";
  std::ofstream(secret) << "s3cr3t-value";
  ::chmod(role_id.c_str(), 0600);
  ::chmod(secret.c_str(), 0644);
  vault::VaultConfig v = default_vault_config();
  v.auth.method = vault::AuthMethod::approle;
  v.auth.role_id_file = role_id;
  v.auth.secret_id_file = secret;
  auto refused = effective_vault_config(v, env({}));
  BOOST_TEST(!refused.ok());
  BOOST_TEST(refused.status().message().find("vault.auth.secret_id_file") != std::string::npos);
  BOOST_TEST(refused.status().message().find("chmod 600") != std::string::npos);
  BOOST_TEST(refused.status().message().find("s3cr3t") == std::string::npos);
  ::chmod(secret.c_str(), 0600);
  BOOST_TEST(effective_vault_config(v, env({})).ok());
  v.auth.method = vault::AuthMethod::token_file;
  v.auth.token_file = dir.file("token");
  std::ofstream(v.auth.token_file) << "hvs.x";
  ::chmod(v.auth.token_file.c_str(), 0640);
  BOOST_TEST(!effective_vault_config(v, env({})).ok());
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

BOOST_AUTO_TEST_CASE(this_process_is_alive_and_a_reaped_child_is_dead) {
  const std::string& me = this_process_lease_owner();
  BOOST_TEST(!lease_owner_is_dead(me));
  BOOST_TEST(!lease_owner_is_dead(me + ":3"));
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
