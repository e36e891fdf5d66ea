// The monitoring examples (examples/prometheus/alerts.yml and alerts_test.yml,
// examples/grafana/policy-sidecar.json) read as the metric uses they contain, and a Prometheus
// text exposition read as the metric names and labels it offers. Used by
// tests/sidecar/server/monitoring_assets_test.cpp (the daemon's registry, rendered in process)
// and tests/integration/serve/monitoring_e2e_test.cpp (a live `serve` scraped with the API
// token). Parsing is just enough for the files' own layout and the PromQL they use; nothing
// here asserts: callers compare and report. Setup failures (unreadable file) throw.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ps::testing {

// A file of the clone, from $PS_REPO_ROOT (ctest sets it); throws when unset or unreadable.
std::string read_repo_file(const std::string& relative);

// One metric selector of a PromQL expression: its metric name ("" for a bare {...}) and the
// label names of its matchers.
struct Selector {
  std::string metric;
  std::vector<std::string> labels;
};

// The selectors of `expr`: identifiers that are not functions, aggregation operators, keywords
// or the labels of by/without/on/ignoring/group_* clauses (Grafana variables such as $instance
// and $__rate_interval are skipped).
std::vector<Selector> promql_selectors(const std::string& expr);

// Every policy_sidecar_* / process_* word of a text (comments and annotations included).
std::set<std::string> prefixed_names(const std::string& text);

struct AlertRule {
  std::string name;
  std::string expr;
  std::map<std::string, std::string> labels;
  std::set<std::string> annotations;
};

// The alerting rules of alerts.yml, read line by line (its own, simple layout).
std::vector<AlertRule> parse_alerts(const std::string& yaml);

// The `series: '...'` input series of a promtool unit-test file.
std::vector<std::string> alert_test_series(const std::string& yaml);

// The dashboard's panels (collapsed rows' panels included) and the expr of every target.
std::vector<const nlohmann::json*> dashboard_panels(const nlohmann::json& dashboard);
std::vector<std::string> dashboard_exprs(const nlohmann::json& dashboard);

// What a /metrics answer offers.
struct Exposition {
  std::map<std::string, std::string> types;                // family -> "counter" | ...
  std::map<std::string, std::set<std::string>> labels;     // family -> label names seen
  std::set<std::string> samples;                           // names of the sample lines
  std::vector<std::string> undeclared;                     // sample names of no # TYPE family

  // Reads the text format 0.0.4 ("# TYPE name type" lines and samples).
  static Exposition parse(const std::string& text);

  // The family a name belongs to: itself when declared, "x" for x_bucket/x_sum/x_count of a
  // declared histogram "x"; "" when none.
  std::string family_of(const std::string& name) const;
};

// One use of a metric by a monitoring asset.
struct MetricUse {
  std::string where;   // "alert PolicySidecarDown", "dashboard", "alerts_test.yml series", ...
  std::string metric;  // as written (x_bucket, not x)
  std::vector<std::string> labels;
  std::string expr;
};

// Every selector of alerts.yml's exprs, alerts_test.yml's series and the dashboard's queries,
// plus every policy_sidecar_*/process_* word anywhere in the three files (labels empty).
std::vector<MetricUse> monitoring_asset_uses();

// Metrics Prometheus makes itself (not on the sidecar's /metrics), and labels it adds.
bool prometheus_own_metric(const std::string& name);
bool target_label(const std::string& label);

// The uses `exp` does not offer, one sentence each: a metric of no declared family (or a
// selector without a metric name); a matcher label the family does not have (checked only
// for families with an entry in exp.labels; `le` only on x_bucket). Empty when all are there.
std::vector<std::string> missing_uses(const std::vector<MetricUse>& uses, const Exposition& exp);

}  // namespace ps::testing
