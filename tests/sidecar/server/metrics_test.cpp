// The Prometheus registry: exposition text, escaping, histogram buckets, collectors; the
// process_* metrics read from /proc.
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <thread>

#include "sidecar/server/metrics.h"
#include "sidecar/server/serve_metrics.h"

using namespace ps::sidecar::server;

namespace {

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Taken during static initialisation, shortly after this process started.
const double kStaticInitTime = unix_now();

// The value of the unlabelled sample `name` in exposition text, or NaN.
double sample(const std::string& text, const std::string& name) {
  const std::string key = "\n" + name + " ";
  const auto at = text.find(key);
  if (at == std::string::npos) return NAN;
  return std::strtod(text.c_str() + at + key.size(), nullptr);
}

}  // namespace

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

BOOST_AUTO_TEST_CASE(serve_metrics_include_the_process_families) {
  MetricsRegistry r;
  ServeMetrics m(r, "1.2.3");
  const std::string text = r.render();
  for (const char* family :
       {"process_cpu_seconds_total counter", "process_start_time_seconds gauge",
        "process_resident_memory_bytes gauge", "process_virtual_memory_bytes gauge",
        "process_open_fds gauge", "process_max_fds gauge"}) {
    BOOST_TEST(text.find(std::string("# TYPE ") + family + "\n") != std::string::npos, family);
  }
}

BOOST_AUTO_TEST_CASE(proc_stat_fields_are_counted_from_the_last_parenthesis) {
  // A command name with spaces and parentheses; utime 250, stime 50 ticks, starttime 1000
  // ticks after boot, vsize 123456789 bytes, rss 300 pages.
  const std::string stat =
      "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 500 0 0 0 250 50 0 0 20 0 3 0 1000 "
      "123456789 300 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
  const auto p = parse_proc_stat(stat, 100, 1'700'000'000, 4096);
  BOOST_TEST_REQUIRE(p.has_value());
  BOOST_TEST(p->cpu_seconds == 3.0);
  BOOST_TEST(p->start_time_seconds == 1'700'000'010.0);
  BOOST_TEST(p->virtual_bytes == 123456789.0);
  BOOST_TEST(p->resident_bytes == 300.0 * 4096);
  BOOST_TEST(!parse_proc_stat("4242 (x) S 1 2 3", 100, 0, 4096).has_value());
  BOOST_TEST(!parse_proc_stat("no parenthesis at all", 100, 0, 4096).has_value());
  BOOST_TEST(!parse_proc_stat(stat, 0, 0, 4096).has_value());
}

BOOST_AUTO_TEST_CASE(boot_time_and_open_file_limit_are_parsed) {
  BOOST_TEST(parse_boot_time("cpu  1 2 3\nintr 5\nbtime 1700000000\nprocesses 9\n").value() ==
             1'700'000'000.0);
  BOOST_TEST(!parse_boot_time("cpu  1 2 3\n").has_value());
  const std::string limits =
      "Limit                     Soft Limit           Hard Limit           Units     \n"
      "Max cpu time              unlimited            unlimited            seconds   \n"
      "Max open files            1024                 524288               files     \n";
  BOOST_TEST(parse_max_open_files(limits).value() == 1024.0);
  BOOST_TEST(std::isinf(parse_max_open_files("Max open files  unlimited  unlimited  files\n")
                            .value()));
  BOOST_TEST(!parse_max_open_files("Max cpu time  unlimited  unlimited  seconds\n").has_value());
}

BOOST_AUTO_TEST_CASE(process_sample_of_this_process_is_sane) {
  const ProcessSample s = read_process_sample();
  BOOST_TEST_REQUIRE(s.start_time_seconds.has_value());
  // The process started before this file's static initialisation, and not long before (btime
  // is whole seconds, so allow 2 s either way).
  BOOST_TEST(*s.start_time_seconds <= kStaticInitTime + 2);
  BOOST_TEST(*s.start_time_seconds >= kStaticInitTime - 60);
  BOOST_TEST(*s.start_time_seconds <= unix_now() + 2);
  BOOST_TEST_REQUIRE(s.resident_bytes.has_value());
  BOOST_TEST(*s.resident_bytes > 0);
  BOOST_TEST_REQUIRE(s.virtual_bytes.has_value());
  BOOST_TEST(*s.virtual_bytes >= *s.resident_bytes);
  BOOST_TEST_REQUIRE(s.cpu_seconds.has_value());
  BOOST_TEST(*s.cpu_seconds >= 0);
  // CPU time cannot exceed wall time since the start on every core (plus a tick of slack).
  const double cores = std::max(1u, std::thread::hardware_concurrency());
  BOOST_TEST(*s.cpu_seconds <= (unix_now() - *s.start_time_seconds + 2) * cores);
  BOOST_TEST_REQUIRE(s.open_fds.has_value());
  BOOST_TEST(*s.open_fds >= 3);  // stdin, stdout, stderr at least
  BOOST_TEST_REQUIRE(s.max_fds.has_value());
  rlimit lim{};
  BOOST_TEST_REQUIRE(::getrlimit(RLIMIT_NOFILE, &lim) == 0);
  if (lim.rlim_cur == RLIM_INFINITY) {
    BOOST_TEST(std::isinf(*s.max_fds));
  } else {
    BOOST_TEST(*s.max_fds == static_cast<double>(lim.rlim_cur));
  }
  BOOST_TEST(*s.max_fds >= *s.open_fds);
}

BOOST_AUTO_TEST_CASE(open_fds_counts_a_newly_opened_descriptor_exactly_once) {
  const auto before = count_open_fds();
  const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  BOOST_TEST_REQUIRE(fd >= 0);
  const auto during = count_open_fds();
  ::close(fd);
  const auto after = count_open_fds();
  BOOST_TEST_REQUIRE((before && during && after));
  BOOST_TEST(*during == *before + 1);
  BOOST_TEST(*after == *before);
}

BOOST_AUTO_TEST_CASE(process_metrics_are_read_at_every_scrape) {
  MetricsRegistry r;
  register_process_metrics(r);
  const std::string first = r.render();
  BOOST_TEST(sample(first, "process_resident_memory_bytes") > 0);
  BOOST_TEST(sample(first, "process_open_fds") > 0);
  BOOST_TEST(std::fabs(sample(first, "process_start_time_seconds") - kStaticInitTime) < 60);
  const double cpu_before = sample(first, "process_cpu_seconds_total");
  BOOST_TEST(cpu_before >= 0);
  // Burn 100 ms of this process's CPU time (no sleeping), then scrape again: the counter moved.
  const std::clock_t start = std::clock();
  volatile double sink = 0;
  while (std::clock() - start < CLOCKS_PER_SEC / 10) sink = sink + std::sqrt(sink + 1);
  const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  BOOST_TEST_REQUIRE(fd >= 0);
  const std::string second = r.render();
  ::close(fd);
  BOOST_TEST(sample(second, "process_cpu_seconds_total") > cpu_before);
  BOOST_TEST(sample(second, "process_open_fds") == sample(first, "process_open_fds") + 1);
}

BOOST_AUTO_TEST_CASE(set_total_never_lowers_a_counter) {
  MetricsRegistry r;
  auto& c = r.counter("app_cpu_seconds_total", "x");
  c.set_total({}, 2.5);
  c.set_total({}, 1.0);
  c.set_total({}, NAN);
  BOOST_TEST(c.value() == 2.5);
  c.set_total({}, 3.0);
  BOOST_TEST(c.value() == 3.0);
}

BOOST_AUTO_TEST_SUITE_END()
