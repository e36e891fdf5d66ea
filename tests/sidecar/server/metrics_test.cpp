// The Prometheus registry: exposition text, escaping, histogram buckets, collectors.
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <thread>

#include "sidecar/server/metrics.h"
#include "sidecar/server/serve_metrics.h"

using namespace ps::sidecar::server;

BOOST_AUTO_TEST_SUITE(metrics)

BOOST_AUTO_TEST_CASE(counters_and_gauges_render_help_type_and_sorted_series) {
  MetricsRegistry r;
  auto& c = r.counter("app_requests_total", "Requests by status.", {"status"});
  auto& g = r.gauge("app_depth", "Queue depth.");
  c.inc({"500"});
  c.inc({"200"}, 2);
  g.set(3.5);
  BOOST_TEST(r.render() ==
             "# HELP app_depth Queue depth.\n"
             "# TYPE app_depth gauge\n"
             "app_depth 3.5\n"
             "# HELP app_requests_total Requests by status.\n"
             "# TYPE app_requests_total counter\n"
             "app_requests_total{status=\"200\"} 2\n"
             "app_requests_total{status=\"500\"} 1\n");
}

BOOST_AUTO_TEST_CASE(unlabelled_counter_shows_zero_before_its_first_event) {
  MetricsRegistry r;
  r.counter("app_events_total", "Events.");
  BOOST_TEST(r.render().find("\napp_events_total 0\n") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(label_values_and_help_are_escaped) {
  MetricsRegistry r;
  auto& c = r.counter("app_x_total", "Line one\nback\\slash", {"path"});
  c.inc({"a\"b\\c\nd"});
  const std::string text = r.render();
  BOOST_TEST(text.find("# HELP app_x_total Line one\\nback\\\\slash\n") != std::string::npos);
  BOOST_TEST(text.find("app_x_total{path=\"a\\\"b\\\\c\\nd\"} 1\n") != std::string::npos, text);
}

BOOST_AUTO_TEST_CASE(histogram_buckets_are_cumulative_with_sum_count_and_inf) {
  MetricsRegistry r;
  auto& h = r.histogram("app_latency_seconds", "Latency.", {"op"}, {0.1, 1});
  h.observe({"read"}, 0.05);
  h.observe({"read"}, 0.1);  // le is inclusive
  h.observe({"read"}, 0.5);
  h.observe({"read"}, 7);
  BOOST_TEST(r.render() ==
             "# HELP app_latency_seconds Latency.\n"
             "# TYPE app_latency_seconds histogram\n"
             "app_latency_seconds_bucket{op=\"read\",le=\"0.1\"} 2\n"
             "app_latency_seconds_bucket{op=\"read\",le=\"1\"} 3\n"
             "app_latency_seconds_bucket{op=\"read\",le=\"+Inf\"} 4\n"
             "app_latency_seconds_sum{op=\"read\"} 7.65\n"
             "app_latency_seconds_count{op=\"read\"} 4\n");
  BOOST_TEST(h.count({"read"}) == 4u);
}

BOOST_AUTO_TEST_CASE(values_use_prometheus_spelling_for_special_numbers) {
  BOOST_TEST(format_metric_value(42) == "42");
  BOOST_TEST(format_metric_value(-3) == "-3");
  BOOST_TEST(format_metric_value(INFINITY) == "+Inf");
  BOOST_TEST(format_metric_value(-INFINITY) == "-Inf");
  BOOST_TEST(format_metric_value(NAN) == "NaN");
  BOOST_TEST(format_metric_value(0.25) == "0.25");
}

BOOST_AUTO_TEST_CASE(bad_names_wrong_arity_and_duplicates_are_programming_errors) {
  MetricsRegistry r;
  BOOST_CHECK_THROW(r.counter("1bad", "x"), std::invalid_argument);
  BOOST_CHECK_THROW(r.counter("ok_total", "x", {"__reserved"}), std::invalid_argument);
  BOOST_CHECK_THROW(r.histogram("h", "x", {"le"}, {1}), std::invalid_argument);
  BOOST_CHECK_THROW(r.histogram("h2", "x", {}, {2, 1}), std::invalid_argument);
  auto& c = r.counter("ok_total", "x", {"a"});
  BOOST_CHECK_THROW(c.inc({}), std::invalid_argument);
  BOOST_CHECK_THROW(r.gauge("ok_total", "again"), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(collectors_run_before_each_render) {
  MetricsRegistry r;
  auto& g = r.gauge("app_rows", "Rows.", {"state"});
  int depth = 1;
  r.add_collector([&] {
    g.clear();
    g.set({"pending"}, depth);
  });
  BOOST_TEST(r.render().find("app_rows{state=\"pending\"} 1\n") != std::string::npos);
  depth = 9;
  BOOST_TEST(r.render().find("app_rows{state=\"pending\"} 9\n") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(concurrent_increments_are_all_counted) {
  MetricsRegistry r;
  auto& c = r.counter("app_n_total", "n", {"t"});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) c.inc({"x"});
    });
  }
  for (auto& t : threads) t.join();
  BOOST_TEST(c.value({"x"}) == 40000);
}

BOOST_AUTO_TEST_CASE(serve_metrics_register_build_info_and_every_family_once) {
  MetricsRegistry r;
  ServeMetrics m(r, "1.2.3");
  const std::string text = r.render();
  BOOST_TEST(text.find("policy_sidecar_build_info{version=\"1.2.3\"} 1\n") != std::string::npos);
  for (const char* family :
       {"policy_sidecar_promotions_total", "policy_sidecar_denials_total",
        "policy_sidecar_webhook_requests_total", "policy_sidecar_vault_requests_total",
        "policy_sidecar_vault_request_duration_seconds", "policy_sidecar_sync_retries_total",
        "policy_sidecar_outbox_rows", "policy_sidecar_outbox_oldest_pending_age_seconds",
        "policy_sidecar_drift_found_total", "policy_sidecar_drift_corrected_total",
        "policy_sidecar_reconcile_duration_seconds", "policy_sidecar_vault_token_ttl_seconds"}) {
    BOOST_TEST(text.find(std::string("# TYPE ") + family + " ") != std::string::npos, family);
  }
}

BOOST_AUTO_TEST_SUITE_END()
