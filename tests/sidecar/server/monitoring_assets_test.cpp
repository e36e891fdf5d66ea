// The monitoring examples against the daemon's real /metrics: every metric that
// examples/prometheus/alerts.yml, its promtool unit tests and the Grafana dashboard
// (examples/grafana/policy-sidecar.json) name must be exposed by the daemon (ServeMetrics,
// process_* included) or be Prometheus' own `up`; label matchers must use the family's labels.
// Also: every alert has a severity and summary/description annotations and a promtool unit
// test, and the dashboard JSON has the structure Grafana imports.
// (promtool itself checks the files' syntax: tests/sidecar/server/check_prometheus_assets.sh.)
#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "sidecar/server/metrics.h"
#include "sidecar/server/serve_metrics.h"
#include "tests/support/prometheus_assets.h"

using namespace ps::sidecar::server;
using namespace ps::testing;
using nlohmann::json;

namespace {

// What the daemon's /metrics declares: the "# TYPE" lines of a registry carrying every family
// the daemon registers, with each family's label names from the registry (a family without
// samples shows none in the text). The live scrape: tests/integration/serve/monitoring_e2e_test.
struct RegistryExposition {
  MetricsRegistry registry;
  ServeMetrics metrics{registry, "test"};
  Exposition exp = Exposition::parse(registry.render());

  RegistryExposition() {
    for (const auto& [name, type] : exp.types) {
      const auto& names = registry.family(name)->label_names();
      exp.labels[name] = std::set<std::string>(names.begin(), names.end());
    }
  }
};

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += "\n  " + l;
  return out;
}

std::vector<MetricUse> uses_from(const std::string& prefix) {
  std::vector<MetricUse> out;
  for (const MetricUse& u : monitoring_asset_uses()) {
    if (u.where.rfind(prefix, 0) == 0) out.push_back(u);
  }
  return out;
}

std::set<std::string> metrics_of(const std::vector<MetricUse>& uses) {
  std::set<std::string> out;
  for (const MetricUse& u : uses) out.insert(u.metric);
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(monitoring_assets)

BOOST_AUTO_TEST_CASE(the_promql_reader_finds_metrics_and_their_matchers) {
  const auto s = promql_selectors(
      "sum by (instance, le) (rate(a_total{x=\"1\", y=~\"$v\"}[$__rate_interval])) / "
      "on (instance) group_left b_seconds offset 5m > 0.5 and up{job=\"j\"} or absent(c) "
      "* 1e3");
  std::vector<std::string> names;
  for (const auto& sel : s) names.push_back(sel.metric);
  BOOST_TEST(names == (std::vector<std::string>{"a_total", "b_seconds", "up", "c"}),
             boost::test_tools::per_element());
  BOOST_TEST(s[0].labels == (std::vector<std::string>{"x", "y"}),
             boost::test_tools::per_element());
  BOOST_TEST(s[2].labels == (std::vector<std::string>{"job"}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(the_exposition_reader_derives_histogram_suffixes_and_labels) {
  const Exposition exp = Exposition::parse(
      "# HELP h_seconds x\n# TYPE h_seconds histogram\n"
      "h_seconds_bucket{op=\"a\",le=\"+Inf\"} 1\nh_seconds_sum{op=\"a\"} 0.5\n"
      "h_seconds_count{op=\"a\"} 1\n# TYPE g gauge\ng 3\n# TYPE e_total counter\n"
      "stray{k=\"v\"} 1\n");
  BOOST_TEST(exp.family_of("h_seconds_bucket") == "h_seconds");
  BOOST_TEST(exp.family_of("g_count") == "");  // a gauge has no _count
  BOOST_TEST(exp.family_of("e_total") == "e_total");  // declared, no sample yet
  BOOST_TEST(exp.labels.at("h_seconds") == (std::set<std::string>{"op"}),
             boost::test_tools::per_element());
  BOOST_TEST(exp.undeclared == (std::vector<std::string>{"stray"}),
             boost::test_tools::per_element());
  BOOST_TEST(exp.samples.count("h_seconds_sum") == 1u);
  // missing_uses reports an unknown metric, an unknown label and a bare selector; le only on
  // _bucket; up and the target labels pass.
  const auto problems = missing_uses(
      {{"a", "h_seconds_bucket", {"op", "le", "instance"}, ""},
       {"b", "h_seconds_sum", {"le"}, ""},
       {"c", "nope_total", {}, ""},
       {"d", "g", {"zone"}, ""},
       {"e", "", {"job"}, ""},
       {"f", "up", {"job"}, ""}},
      exp);
  BOOST_TEST_REQUIRE(problems.size() == 4u, joined(problems));
  BOOST_TEST(problems[0] == "b: h_seconds_sum has no label le");
  BOOST_TEST(problems[1] == "c: nope_total is not on /metrics");
  BOOST_TEST(problems[2] == "d: g has no label zone");
  BOOST_TEST(problems[3] == "e: a selector without a metric name");
  // A family declared without samples has no label entry: its matchers are not judged.
  BOOST_TEST(missing_uses({{"g", "e_total", {"result"}, ""}}, exp).empty());
}

BOOST_AUTO_TEST_CASE(the_exposition_has_the_daemon_and_process_families) {
  const RegistryExposition r;
  for (const char* name :
       {"policy_sidecar_revocations_total", "policy_sidecar_violations_total",
        "policy_sidecar_revocation_steps_total", "policy_sidecar_frozen",
        "policy_sidecar_orphan_roles", "policy_sidecar_listener_refused_total",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes", "process_start_time_seconds", "process_open_fds",
        "process_max_fds", "process_virtual_memory_bytes"}) {
    BOOST_TEST(r.exp.types.count(name) == 1u, name);
  }
  BOOST_TEST(r.exp.family_of("policy_sidecar_webhook_duration_seconds_bucket") ==
             "policy_sidecar_webhook_duration_seconds");
  BOOST_TEST(r.exp.family_of("policy_sidecar_no_such_metric") == "");
  BOOST_TEST(r.exp.undeclared.empty(), joined(r.exp.undeclared));
}

BOOST_AUTO_TEST_CASE(every_metric_the_alerts_name_is_on_metrics) {
  const RegistryExposition r;
  BOOST_TEST_REQUIRE(parse_alerts(read_repo_file("examples/prometheus/alerts.yml")).size() >= 10u);
  const auto uses = uses_from("alert");
  const auto problems = missing_uses(uses, r.exp);
  BOOST_TEST(problems.empty(), joined(problems));
  const auto used = metrics_of(uses);
  // The alerts the monitoring brief asks for, by the metric each one watches.
  for (const char* m :
       {"up", "policy_sidecar_outbox_oldest_pending_age_seconds",
        "policy_sidecar_drift_found_total", "policy_sidecar_vault_up",
        "policy_sidecar_vault_token_ttl_seconds", "policy_sidecar_webhook_requests_total",
        "policy_sidecar_webhook_rejections_total", "policy_sidecar_revocation_steps_total",
        "policy_sidecar_violations_total", "policy_sidecar_frozen",
        "policy_sidecar_orphan_roles"}) {
    BOOST_TEST(used.count(m) == 1u, "no alert watches " << m);
  }
}

BOOST_AUTO_TEST_CASE(every_alert_has_severity_summary_description_and_a_unit_test) {
  const auto rules = parse_alerts(read_repo_file("examples/prometheus/alerts.yml"));
  const std::string tests = read_repo_file("examples/prometheus/alerts_test.yml");
  BOOST_TEST_REQUIRE(!rules.empty());
  std::set<std::string> names;
  for (const AlertRule& r : rules) {
    BOOST_TEST(!r.expr.empty(), r.name << " has no expr");
    BOOST_TEST(names.insert(r.name).second, "alert " << r.name << " defined twice");
    BOOST_TEST(r.name.rfind("PolicySidecar", 0) == 0u, r.name);
    const auto sev = r.labels.find("severity");
    BOOST_TEST((sev != r.labels.end() && (sev->second == "critical" || sev->second == "warning")),
               r.name << ": severity must be critical or warning");
    BOOST_TEST(r.annotations.count("summary") == 1u, r.name << " has no summary");
    BOOST_TEST(r.annotations.count("description") == 1u, r.name << " has no description");
    BOOST_TEST(tests.find("alertname: " + r.name + "\n") != std::string::npos,
               r.name << " has no promtool unit test in alerts_test.yml");
  }
}

BOOST_AUTO_TEST_CASE(the_alert_unit_tests_feed_only_series_the_daemon_exposes) {
  const RegistryExposition r;
  BOOST_TEST(alert_test_series(read_repo_file("examples/prometheus/alerts_test.yml")).size() > 10u);
  const auto problems = missing_uses(uses_from("alerts_test.yml"), r.exp);
  BOOST_TEST(problems.empty(), joined(problems));
}

BOOST_AUTO_TEST_CASE(every_metric_the_dashboard_queries_is_on_metrics) {
  const RegistryExposition r;
  const auto uses = uses_from("dashboard");
  auto problems = missing_uses(uses, r.exp);
  const auto words = missing_uses(uses_from("policy-sidecar.json"), r.exp);
  problems.insert(problems.end(), words.begin(), words.end());
  BOOST_TEST(problems.empty(), joined(problems));
  const auto used = metrics_of(uses);
  // The panels the dashboard promises, by metric.
  for (const char* m :
       {"policy_sidecar_outbox_rows", "policy_sidecar_outbox_oldest_pending_age_seconds",
        "policy_sidecar_sync_results_total", "policy_sidecar_vault_up",
        "policy_sidecar_vault_token_ttl_seconds", "policy_sidecar_webhook_requests_total",
        "policy_sidecar_webhook_duration_seconds_bucket", "policy_sidecar_promotions_total",
        "policy_sidecar_revocations_total", "policy_sidecar_revocation_steps_total",
        "policy_sidecar_agents", "policy_sidecar_evaluation_duration_seconds_count",
        "policy_sidecar_frozen", "process_resident_memory_bytes", "process_cpu_seconds_total"}) {
    BOOST_TEST(used.count(m) == 1u, "no dashboard panel queries " << m);
  }
}

BOOST_AUTO_TEST_CASE(the_scrape_config_sends_the_api_token_from_a_file) {
  // /metrics needs the operator API token (api.metrics_auth defaults to true): the example
  // scrape job must send it, from a file, never inline.
  const std::string yaml = read_repo_file("examples/prometheus/prometheus.yml");
  static const std::regex auth(
      R"(\n(\s+)authorization:\n\1\s+type: Bearer\n(?:\1\s+#[^\n]*\n)*\1\s+credentials_file: /\S+)");
  BOOST_TEST(std::regex_search(yaml, auth), "no authorization/credentials_file in the scrape job");
  static const std::regex inline_secret(R"(\n\s+credentials:)");
  BOOST_TEST(!std::regex_search(yaml, inline_secret), "a token inline in prometheus.yml");
  BOOST_TEST(yaml.find("job_name: policy-sidecar") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(the_dashboard_has_the_structure_grafana_imports) {
  const json d = json::parse(read_repo_file("examples/grafana/policy-sidecar.json"));
  BOOST_TEST(d.at("title").get<std::string>() == "policy-sidecar");
  BOOST_TEST(d.at("uid").get<std::string>() == "policy-sidecar");
  BOOST_TEST(d.at("schemaVersion").is_number_integer());
  BOOST_TEST_REQUIRE(d.at("panels").is_array());
  // Variables: a Prometheus data source and the instance filter every query uses.
  std::set<std::string> variables;
  for (const json& v : d.at("templating").at("list")) {
    variables.insert(v.at("name").get<std::string>());
    if (v.at("name") == "datasource") {
      BOOST_TEST(v.at("type").get<std::string>() == "datasource");
      BOOST_TEST(v.at("query").get<std::string>() == "prometheus");
    }
    if (v.at("name") == "instance") {
      BOOST_TEST(v.at("definition").get<std::string>().find("policy_sidecar_build_info") !=
                 std::string::npos);
    }
  }
  BOOST_TEST(variables == (std::set<std::string>{"datasource", "instance"}),
             boost::test_tools::per_element());

  static const std::set<std::string> kTypes = {"row", "timeseries", "stat", "gauge",
                                               "bargauge", "table", "text"};
  static const std::regex var_re(R"(\$\{?([A-Za-z_][A-Za-z0-9_]*))");
  std::set<int> ids;
  std::set<std::string> titles;
  struct Box {
    int x, y, w, h;
  };
  std::vector<Box> boxes;
  int queries = 0;
  for (const json* pp : dashboard_panels(d)) {
    const json& p = *pp;
    const std::string title = p.at("title").get<std::string>();
    BOOST_TEST(ids.insert(p.at("id").get<int>()).second, "panel id reused: " << title);
    BOOST_TEST(kTypes.count(p.at("type").get<std::string>()) == 1u, title);
    BOOST_TEST(!title.empty());
    const json& g = p.at("gridPos");
    const Box b{g.at("x").get<int>(), g.at("y").get<int>(), g.at("w").get<int>(),
                g.at("h").get<int>()};
    BOOST_TEST((b.x >= 0 && b.w > 0 && b.x + b.w <= 24 && b.h > 0 && b.y >= 0), title);
    for (const Box& o : boxes) {
      const bool overlap = b.x < o.x + o.w && o.x < b.x + b.w && b.y < o.y + o.h && o.y < b.y + b.h;
      BOOST_TEST(!overlap, "panel " << title << " overlaps another");
    }
    boxes.push_back(b);
    if (p.at("type") == "row") continue;
    BOOST_TEST(titles.insert(title).second, "two panels titled " << title);
    BOOST_TEST(p.at("datasource").at("uid").get<std::string>() == "${datasource}", title);
    BOOST_TEST_REQUIRE(p.at("targets").is_array());
    BOOST_TEST(!p.at("targets").empty(), title << " has no query");
    std::set<std::string> refs;
    for (const json& t : p.at("targets")) {
      ++queries;
      BOOST_TEST(refs.insert(t.at("refId").get<std::string>()).second, title);
      const std::string expr = t.at("expr").get<std::string>();
      BOOST_TEST(!expr.empty(), title);
      BOOST_TEST(expr.find("instance=~\"$instance\"") != std::string::npos,
                 title << ": every query filters on $instance: " << expr);
      for (auto it = std::sregex_iterator(expr.begin(), expr.end(), var_re);
           it != std::sregex_iterator(); ++it) {
        const std::string v = (*it)[1];
        BOOST_TEST((variables.count(v) == 1u || v.rfind("__", 0) == 0u),
                   title << ": undefined variable $" << v);
      }
    }
  }
  BOOST_TEST(queries >= 20);
  // The sections an operator looks for.
  for (const char* t : {"Outbox rows by state", "Oldest pending age", "Sync results", "Vault up",
                        "Vault token TTL", "Webhook requests", "Webhook latency",
                        "Promotions", "Revocations by source", "Revocation steps",
                        "Agents by evaluation status", "Kill switch", "Resident memory",
                        "CPU"}) {
    BOOST_TEST(titles.count(t) == 1u, "no panel titled " << t);
  }
}

BOOST_AUTO_TEST_SUITE_END()
