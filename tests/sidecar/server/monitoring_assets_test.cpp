// The monitoring examples against the daemon's real /metrics: every metric that
// examples/prometheus/alerts.yml, its promtool unit tests and the Grafana dashboard
// (examples/grafana/policy-sidecar.json) name must be exposed by the daemon (ServeMetrics,
// process_* included) or be Prometheus' own `up`; label matchers must use the family's labels.
// Also: every alert has a severity and summary/description annotations and a promtool unit
// test, and the dashboard JSON has the structure Grafana imports.
// (promtool itself checks the files' syntax: tests/sidecar/server/check_prometheus_assets.sh.)
#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "sidecar/server/metrics.h"
#include "sidecar/server/serve_metrics.h"

using namespace ps::sidecar::server;
using nlohmann::json;

namespace {

std::string repo_file(const std::string& relative) {
  const char* root = std::getenv("PS_REPO_ROOT");
  BOOST_TEST_REQUIRE(root != nullptr, "PS_REPO_ROOT is not set (ctest sets it)");
  const std::string path = std::string(root) + "/" + relative;
  std::ifstream in(path);
  BOOST_TEST_REQUIRE(static_cast<bool>(in), "cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// What the daemon's /metrics shows: family name -> type, from the "# TYPE" lines of a
// registry carrying every family the daemon registers.
struct Exposition {
  MetricsRegistry registry;
  ServeMetrics metrics{registry, "test"};
  std::map<std::string, std::string> types;

  Exposition() {
    std::istringstream text(registry.render());
    std::string line;
    while (std::getline(text, line)) {
      std::istringstream words(line);
      std::string hash, keyword, name, type;
      if (words >> hash >> keyword >> name >> type && hash == "#" && keyword == "TYPE") {
        types[name] = type;
      }
    }
  }

  // The family a sample name belongs to ("x_bucket" -> histogram "x"), or "" when none.
  std::string family_of(const std::string& name) const {
    if (types.count(name)) return name;
    for (const std::string suffix : {"_bucket", "_sum", "_count"}) {
      if (name.size() > suffix.size() &&
          name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
        const std::string base = name.substr(0, name.size() - suffix.size());
        auto it = types.find(base);
        if (it != types.end() && it->second == "histogram") return base;
      }
    }
    return "";
  }
};

// Metrics Prometheus makes itself (not on the sidecar's /metrics).
const std::set<std::string> kPrometheusOwn = {"up"};
// Labels Prometheus adds to every scraped series.
const std::set<std::string> kTargetLabels = {"instance", "job"};

// Every policy_sidecar_* / process_* word in a text (comments and annotations included).
std::set<std::string> prefixed_names(const std::string& text) {
  static const std::regex re(R"((?:^|[^A-Za-z0-9_:])((?:policy_sidecar|process)_[A-Za-z0-9_]*))");
  std::set<std::string> out;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator();
       ++it) {
    out.insert((*it)[1]);
  }
  return out;
}

bool is_ident_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}
bool is_ident_char(char c) { return is_ident_start(c) || (c >= '0' && c <= '9'); }

struct Selector {
  std::string metric;
  std::vector<std::string> labels;  // the label names of its matchers
};

// The metric selectors of a PromQL expression: identifiers that are not functions, aggregation
// operators, keywords or the labels of by/without/on/ignoring/group_* clauses, with the label
// names of their {...} matchers. Enough PromQL for the expressions in examples/ (Grafana
// variables such as $instance and $__rate_interval are inside {...} or [...]).
std::vector<Selector> selectors(const std::string& expr) {
  static const std::set<std::string> kKeywords = {
      "and", "or", "unless", "bool", "offset", "inf", "nan", "Inf", "NaN",
      // aggregation operators, also when `by (...)` stands between them and their argument
      "sum", "avg", "min", "max", "count", "group", "stddev", "stdvar", "topk", "bottomk",
      "quantile", "count_values"};
  static const std::set<std::string> kLabelLists = {"by", "without", "on", "ignoring",
                                                    "group_left", "group_right"};
  std::vector<Selector> out;
  std::size_t i = 0;
  const auto skip_space = [&](std::size_t at) {
    while (at < expr.size() && std::isspace(static_cast<unsigned char>(expr[at]))) ++at;
    return at;
  };
  const auto skip_group = [&](std::size_t at, char open, char close) {  // at: on `open`
    int depth = 0;
    for (; at < expr.size(); ++at) {
      if (expr[at] == '"' || expr[at] == '\'') {
        const char q = expr[at];
        for (++at; at < expr.size() && expr[at] != q; ++at) {
          if (expr[at] == '\\') ++at;
        }
      } else if (expr[at] == open) {
        ++depth;
      } else if (expr[at] == close && --depth == 0) {
        return at + 1;
      }
    }
    return at;
  };
  while (i < expr.size()) {
    const char c = expr[i];
    if (c == '"' || c == '\'' || c == '`') {  // a string literal
      const char q = c;
      for (++i; i < expr.size() && expr[i] != q; ++i) {
        if (expr[i] == '\\') ++i;
      }
      ++i;
    } else if (c == '[') {  // a range or subquery duration
      i = skip_group(i, '[', ']');
    } else if (c >= '0' && c <= '9') {  // a number or duration (0.95, 1e3, 5m)
      while (i < expr.size() && (is_ident_char(expr[i]) || expr[i] == '.')) ++i;
    } else if (c == '{') {  // matchers without a metric name
      out.push_back({"", {}});
      const std::size_t end = skip_group(i, '{', '}');
      static const std::regex label(R"(([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=))");
      const std::string body = expr.substr(i, end - i);
      for (auto it = std::sregex_iterator(body.begin(), body.end(), label);
           it != std::sregex_iterator(); ++it) {
        out.back().labels.push_back((*it)[1]);
      }
      i = end;
    } else if (is_ident_start(c) && (i == 0 || expr[i - 1] != '$')) {
      const std::size_t start = i;
      while (i < expr.size() && is_ident_char(expr[i])) ++i;
      const std::string word = expr.substr(start, i - start);
      const std::size_t next = skip_space(i);
      if (kLabelLists.count(word)) {
        if (next < expr.size() && expr[next] == '(') i = skip_group(next, '(', ')');
      } else if (kKeywords.count(word) || (next < expr.size() && expr[next] == '(')) {
        // an operator keyword, or a function / aggregation call
      } else {
        out.push_back({word, {}});
        if (next < expr.size() && expr[next] == '{') {
          const std::size_t end = skip_group(next, '{', '}');
          static const std::regex label(R"(([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=))");
          const std::string body = expr.substr(next, end - next);
          for (auto it = std::sregex_iterator(body.begin(), body.end(), label);
               it != std::sregex_iterator(); ++it) {
            out.back().labels.push_back((*it)[1]);
          }
          i = end;
        }
      }
    } else if (c == '$') {  // a Grafana variable outside {...}: skip its name
      ++i;
      while (i < expr.size() && is_ident_char(expr[i])) ++i;
    } else {
      ++i;
    }
  }
  return out;
}

// ---- alerts.yml, read line by line (the file's own, simple layout) ----

struct AlertRule {
  std::string name;
  std::string expr;
  std::map<std::string, std::string> labels;
  std::set<std::string> annotations;
};

std::size_t indent_of(const std::string& line) {
  const std::size_t n = line.find_first_not_of(' ');
  return n == std::string::npos ? line.size() : n;
}

std::string trim(const std::string& s) {
  const std::size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

std::vector<AlertRule> parse_alerts(const std::string& yaml) {
  std::vector<std::string> lines;
  std::istringstream in(yaml);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::vector<AlertRule> rules;
  std::string section;  // "labels" or "annotations" while inside one
  std::size_t section_indent = 0;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    const std::string t = trim(line);
    if (t.empty() || t[0] == '#') continue;
    if (t.rfind("- alert:", 0) == 0) {
      rules.push_back({trim(t.substr(8)), "", {}, {}});
      section.clear();
      continue;
    }
    if (rules.empty()) continue;
    AlertRule& r = rules.back();
    const std::size_t ind = indent_of(line);
    if (!section.empty() && ind <= section_indent) section.clear();
    if (t.rfind("expr:", 0) == 0) {
      std::string value = trim(t.substr(5));
      if (value == ">-" || value == ">" || value == "|" || value == "|-") {  // block scalar
        value.clear();
        while (i + 1 < lines.size() &&
               (trim(lines[i + 1]).empty() || indent_of(lines[i + 1]) > ind)) {
          value += trim(lines[++i]) + "\n";
        }
      }
      r.expr = value;
    } else if (t == "labels:" || t == "annotations:") {
      section = t.substr(0, t.size() - 1);
      section_indent = ind;
    } else if (!section.empty()) {
      const std::size_t colon = t.find(':');
      if (colon != std::string::npos && ind == section_indent + 2) {
        const std::string key = t.substr(0, colon);
        if (section == "labels") r.labels[key] = trim(t.substr(colon + 1));
        if (section == "annotations") r.annotations.insert(key);
      }
    }
  }
  return rules;
}

// ---- the dashboard ----

std::vector<const json*> all_panels(const json& dashboard) {
  std::vector<const json*> out;
  for (const json& p : dashboard.at("panels")) {
    out.push_back(&p);
    if (p.contains("panels")) {
      for (const json& inner : p.at("panels")) out.push_back(&inner);  // collapsed rows
    }
  }
  return out;
}

std::vector<std::string> dashboard_exprs(const json& dashboard) {
  std::vector<std::string> out;
  for (const json* p : all_panels(dashboard)) {
    if (!p->contains("targets")) continue;
    for (const json& t : p->at("targets")) out.push_back(t.value("expr", ""));
  }
  return out;
}

// Checks one expression's selectors against the exposition; returns the metric names used.
std::set<std::string> check_expr(const Exposition& exp, const std::string& expr,
                                 const std::string& where) {
  std::set<std::string> used;
  for (const Selector& s : selectors(expr)) {
    BOOST_TEST(!s.metric.empty(), where << ": a selector without a metric name in " << expr);
    if (s.metric.empty()) continue;
    used.insert(s.metric);
    if (kPrometheusOwn.count(s.metric)) continue;
    const std::string family = exp.family_of(s.metric);
    BOOST_TEST(!family.empty(), where << ": " << s.metric << " is not on /metrics (" << expr
                                      << ")");
    if (family.empty()) continue;
    const auto& names = exp.registry.family(family)->label_names();
    for (const std::string& l : s.labels) {
      const bool known = kTargetLabels.count(l) ||
                         std::find(names.begin(), names.end(), l) != names.end() ||
                         (l == "le" && s.metric == family + "_bucket");
      BOOST_TEST(known, where << ": " << s.metric << " has no label " << l);
    }
  }
  return used;
}

void check_prefixed_names(const Exposition& exp, const std::string& text,
                          const std::string& where) {
  for (const std::string& name : prefixed_names(text)) {
    BOOST_TEST(!exp.family_of(name).empty(), where << " names " << name
                                                   << ", which is not on /metrics");
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(monitoring_assets)

BOOST_AUTO_TEST_CASE(the_promql_reader_finds_metrics_and_their_matchers) {
  const auto s = selectors(
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

BOOST_AUTO_TEST_CASE(the_exposition_has_the_daemon_and_process_families) {
  const Exposition exp;
  for (const char* name :
       {"policy_sidecar_revocations_total", "policy_sidecar_violations_total",
        "policy_sidecar_revocation_steps_total", "policy_sidecar_frozen",
        "policy_sidecar_orphan_roles", "process_cpu_seconds_total",
        "process_resident_memory_bytes", "process_start_time_seconds", "process_open_fds",
        "process_max_fds", "process_virtual_memory_bytes"}) {
    BOOST_TEST(exp.types.count(name) == 1u, name);
  }
  BOOST_TEST(exp.family_of("policy_sidecar_webhook_duration_seconds_bucket") ==
             "policy_sidecar_webhook_duration_seconds");
  BOOST_TEST(exp.family_of("policy_sidecar_frozen_count") == "");  // a gauge has no _count
  BOOST_TEST(exp.family_of("policy_sidecar_no_such_metric") == "");
}

BOOST_AUTO_TEST_CASE(every_metric_the_alerts_name_is_on_metrics) {
  const Exposition exp;
  const std::string yaml = repo_file("examples/prometheus/alerts.yml");
  const auto rules = parse_alerts(yaml);
  BOOST_TEST_REQUIRE(rules.size() >= 10u);
  std::set<std::string> used;
  for (const AlertRule& r : rules) {
    BOOST_TEST(!r.expr.empty(), r.name << " has no expr");
    for (const auto& m : check_expr(exp, r.expr, "alert " + r.name)) used.insert(m);
  }
  check_prefixed_names(exp, yaml, "alerts.yml");
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
  const auto rules = parse_alerts(repo_file("examples/prometheus/alerts.yml"));
  const std::string tests = repo_file("examples/prometheus/alerts_test.yml");
  BOOST_TEST_REQUIRE(!rules.empty());
  std::set<std::string> names;
  for (const AlertRule& r : rules) {
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
  const Exposition exp;
  const std::string tests = repo_file("examples/prometheus/alerts_test.yml");
  static const std::regex series_re(R"(series:\s*'([^']*)')");
  int n = 0;
  for (auto it = std::sregex_iterator(tests.begin(), tests.end(), series_re);
       it != std::sregex_iterator(); ++it, ++n) {
    check_expr(exp, (*it)[1], "alerts_test.yml series");
  }
  BOOST_TEST(n > 10);
  check_prefixed_names(exp, tests, "alerts_test.yml");
}

BOOST_AUTO_TEST_CASE(every_metric_the_dashboard_queries_is_on_metrics) {
  const Exposition exp;
  const std::string text = repo_file("examples/grafana/policy-sidecar.json");
  const json dashboard = json::parse(text);
  std::set<std::string> used;
  for (const std::string& e : dashboard_exprs(dashboard)) {
    for (const auto& m : check_expr(exp, e, "dashboard")) used.insert(m);
  }
  check_prefixed_names(exp, text, "policy-sidecar.json");
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

BOOST_AUTO_TEST_CASE(the_dashboard_has_the_structure_grafana_imports) {
  const json d = json::parse(repo_file("examples/grafana/policy-sidecar.json"));
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
  for (const json* pp : all_panels(d)) {
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
