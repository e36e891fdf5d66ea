// The monitoring examples against a live daemon: `policy-sidecar serve` runs as its own
// process (with the vault-emulator), sees an approval, a stale delivery and a push to Vault,
// and is scraped like Prometheus scrapes it (HTTPS, the operator API token as bearer). Every
// metric that examples/prometheus/alerts.yml, alerts_test.yml and
// examples/grafana/policy-sidecar.json name must be in that answer: declared by a "# TYPE"
// line, histogram series as x_bucket/x_sum/x_count; matcher labels must be labels the live
// series carry. (The same check against the registry rendered in process, label names of
// series not yet seen included: tests/sidecar/server/monitoring_assets_test.cpp.)
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include "tests/integration/serve/serve_harness.h"
#include "tests/support/prometheus_assets.h"

using namespace ps::testing;
using namespace ps::testing::serve;

namespace {

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += "\n  " + l;
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(serve_monitoring_e2e)

BOOST_AUTO_TEST_CASE(every_metric_the_monitoring_examples_name_is_on_a_live_scrape) {
  ServeEnv env;
  env.raw().exec("BEGIN");
  seed_ready_agent(env.raw(), "omicron", 0, std::chrono::system_clock::now());
  env.raw().exec("COMMIT");
  env.start_serve(env.write_config());
  BOOST_REQUIRE(env.send_approval(approval_body("omicron", 1, "anyone"), "msg_o").status == 200);
  BOOST_REQUIRE(env.send_approval(approval_body("omicron", 1, "anyone"), "msg_o2", -1000).status ==
                401);
  BOOST_REQUIRE(ServeEnv::eventually([&] {
    return env.metric("policy_sidecar_sync_results_total{result=\"synced\"}").value_or(0) >= 1;
  }));

  // Without the token Prometheus gets 401 (prometheus.yml sends it from credentials_file).
  BOOST_TEST(env.get("/metrics").status == 401);
  const HttpReply scrape = env.get("/metrics", env.api_token());
  BOOST_REQUIRE(scrape.status == 200);
  const Exposition live = Exposition::parse(scrape.body);
  BOOST_TEST(live.undeclared.empty(), "samples without a # TYPE line:" << joined(live.undeclared));

  const std::vector<MetricUse> uses = monitoring_asset_uses();
  BOOST_TEST_REQUIRE(uses.size() > 50u);
  const auto problems = missing_uses(uses, live);
  BOOST_TEST(problems.empty(), "not on the live /metrics:" << joined(problems));

  // The suffixes derived from "# TYPE x histogram" are the names the daemon writes: every
  // histogram the traffic above touched has all three series, and the dashboard's and alerts'
  // _bucket/_count/_sum names are among real sample lines for those.
  int sampled_histograms = 0;
  for (const auto& [family, type] : live.types) {
    if (type != "histogram" || !live.samples.count(family + "_count")) continue;
    ++sampled_histograms;
    BOOST_TEST(live.samples.count(family + "_bucket") == 1u, family);
    BOOST_TEST(live.samples.count(family + "_sum") == 1u, family);
  }
  BOOST_TEST(sampled_histograms >= 3);  // webhook, commit, Vault request latency at least
  for (const char* name :
       {"policy_sidecar_webhook_duration_seconds_bucket", "policy_sidecar_vault_up",
        "policy_sidecar_outbox_rows", "policy_sidecar_vault_token_ttl_seconds",
        "process_resident_memory_bytes", "process_cpu_seconds_total"}) {
    BOOST_TEST(live.samples.count(name) == 1u, name << " has no sample line");
  }
  // Label matchers were judged against live series: the families the examples filter on by
  // label carry those labels here (e.g. sync_results{result}, webhook_requests{status}).
  BOOST_TEST(live.labels.at("policy_sidecar_sync_results_total").count("result") == 1u);
  BOOST_TEST(live.labels.at("policy_sidecar_webhook_requests_total").count("status") == 1u);
  // The synced push left its stages, and the promotion's write transaction its lock waits.
  for (const char* stage : {"queued", "read", "write", "readback", "finish"}) {
    const std::string series =
        std::string("policy_sidecar_sync_stage_duration_seconds_count{stage=\"") + stage + "\"}";
    BOOST_TEST(env.metric(series).value_or(0) >= 1, series);
  }
  for (const char* step : {"begin_write", "commit"}) {
    const std::string series =
        std::string("policy_sidecar_ledger_lock_wait_seconds_count{step=\"") + step + "\"}";
    BOOST_TEST(env.metric(series).value_or(0) >= 1, series);
  }
  env.stop_serve();
}

BOOST_AUTO_TEST_CASE(a_metric_the_daemon_does_not_have_is_reported_against_the_live_scrape) {
  // The check can fail: a misspelt alert metric, a gauge read as a histogram, a label the
  // family lacks, each against the same live answer.
  ServeEnv env;
  env.start_serve(env.write_config());
  const HttpReply scrape = env.get("/metrics", env.api_token());
  BOOST_REQUIRE(scrape.status == 200);
  const Exposition live = Exposition::parse(scrape.body);
  const auto problems = missing_uses(
      {{"alert X", "policy_sidecar_vault_upp", {}, ""},
       {"alert Y", "policy_sidecar_vault_up_count", {}, ""},
       {"alert Z", "policy_sidecar_build_info", {"flavour"}, ""},
       {"alert W", "policy_sidecar_build_info", {"version", "instance"}, ""}},
      live);
  BOOST_TEST_REQUIRE(problems.size() == 3u, joined(problems));
  BOOST_TEST(problems[0] == "alert X: policy_sidecar_vault_upp is not on /metrics");
  BOOST_TEST(problems[1] == "alert Y: policy_sidecar_vault_up_count is not on /metrics");
  BOOST_TEST(problems[2] == "alert Z: policy_sidecar_build_info has no label flavour");
  env.stop_serve();
}

BOOST_AUTO_TEST_SUITE_END()
