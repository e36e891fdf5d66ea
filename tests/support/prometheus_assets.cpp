#include "tests/support/prometheus_assets.h"

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>

namespace ps::testing {

namespace {

bool is_ident_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}
bool is_ident_char(char c) { return is_ident_start(c) || (c >= '0' && c <= '9'); }

std::vector<std::string> matcher_labels(const std::string& body) {
  static const std::regex label(R"(([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=))");
  std::vector<std::string> out;
  for (auto it = std::sregex_iterator(body.begin(), body.end(), label);
       it != std::sregex_iterator(); ++it) {
    out.push_back((*it)[1]);
  }
  return out;
}

// Index just past the group opened at `at` (on `open`), string literals skipped.
std::size_t skip_group(const std::string& expr, std::size_t at, char open, char close) {
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
}

std::size_t skip_space(const std::string& expr, std::size_t at) {
  while (at < expr.size() && std::isspace(static_cast<unsigned char>(expr[at]))) ++at;
  return at;
}

// An identifier at `i`: a selector (appended to `out`), or a keyword, function or label list.
std::size_t read_word(const std::string& expr, std::size_t i, std::vector<Selector>& out) {
  static const std::set<std::string> kKeywords = {
      "and", "or", "unless", "bool", "offset", "inf", "nan", "Inf", "NaN",
      // aggregation operators, also when `by (...)` stands between them and their argument
      "sum", "avg", "min", "max", "count", "group", "stddev", "stdvar", "topk", "bottomk",
      "quantile", "count_values"};
  static const std::set<std::string> kLabelLists = {"by", "without", "on", "ignoring",
                                                    "group_left", "group_right"};
  const std::size_t start = i;
  while (i < expr.size() && is_ident_char(expr[i])) ++i;
  const std::string word = expr.substr(start, i - start);
  const std::size_t next = skip_space(expr, i);
  const bool call = next < expr.size() && expr[next] == '(';
  if (kLabelLists.count(word)) return call ? skip_group(expr, next, '(', ')') : i;
  if (kKeywords.count(word) || call) return i;
  out.push_back({word, {}});
  if (next < expr.size() && expr[next] == '{') {
    const std::size_t end = skip_group(expr, next, '{', '}');
    out.back().labels = matcher_labels(expr.substr(next, end - next));
    return end;
  }
  return i;
}

std::size_t indent_of(const std::string& line) {
  const std::size_t n = line.find_first_not_of(' ');
  return n == std::string::npos ? line.size() : n;
}

std::string trim(const std::string& s) {
  const std::size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

void add_selectors(std::vector<MetricUse>& uses, const std::string& where,
                   const std::string& expr) {
  for (const Selector& s : promql_selectors(expr)) uses.push_back({where, s.metric, s.labels, expr});
}

void add_words(std::vector<MetricUse>& uses, const std::string& where, const std::string& text) {
  for (const std::string& name : prefixed_names(text)) uses.push_back({where, name, {}, ""});
}

}  // namespace

std::string read_repo_file(const std::string& relative) {
  const char* root = std::getenv("PS_REPO_ROOT");
  if (root == nullptr) throw std::runtime_error("PS_REPO_ROOT is not set (ctest sets it)");
  const std::string path = std::string(root) + "/" + relative;
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<Selector> promql_selectors(const std::string& expr) {
  std::vector<Selector> out;
  std::size_t i = 0;
  while (i < expr.size()) {
    const char c = expr[i];
    if (c == '"' || c == '\'' || c == '`') {  // a string literal
      for (++i; i < expr.size() && expr[i] != c; ++i) {
        if (expr[i] == '\\') ++i;
      }
      ++i;
    } else if (c == '[') {  // a range or subquery duration
      i = skip_group(expr, i, '[', ']');
    } else if (c >= '0' && c <= '9') {  // a number or duration (0.95, 1e3, 5m)
      while (i < expr.size() && (is_ident_char(expr[i]) || expr[i] == '.')) ++i;
    } else if (c == '{') {  // matchers without a metric name
      const std::size_t end = skip_group(expr, i, '{', '}');
      out.push_back({"", matcher_labels(expr.substr(i, end - i))});
      i = end;
    } else if (is_ident_start(c) && (i == 0 || expr[i - 1] != '$')) {
      i = read_word(expr, i, out);
    } else if (c == '$') {  // a Grafana variable outside {...}: skip its name
      ++i;
      while (i < expr.size() && is_ident_char(expr[i])) ++i;
    } else {
      ++i;
    }
  }
  return out;
}

std::set<std::string> prefixed_names(const std::string& text) {
  static const std::regex re(R"((?:^|[^A-Za-z0-9_:])((?:policy_sidecar|process)_[A-Za-z0-9_]*))");
  std::set<std::string> out;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator();
       ++it) {
    out.insert((*it)[1]);
  }
  return out;
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

std::vector<std::string> alert_test_series(const std::string& yaml) {
  static const std::regex series_re(R"(series:\s*'([^']*)')");
  std::vector<std::string> out;
  for (auto it = std::sregex_iterator(yaml.begin(), yaml.end(), series_re);
       it != std::sregex_iterator(); ++it) {
    out.push_back((*it)[1]);
  }
  return out;
}

std::vector<const nlohmann::json*> dashboard_panels(const nlohmann::json& dashboard) {
  std::vector<const nlohmann::json*> out;
  for (const nlohmann::json& p : dashboard.at("panels")) {
    out.push_back(&p);
    if (p.contains("panels")) {
      for (const nlohmann::json& inner : p.at("panels")) out.push_back(&inner);  // collapsed rows
    }
  }
  return out;
}

std::vector<std::string> dashboard_exprs(const nlohmann::json& dashboard) {
  std::vector<std::string> out;
  for (const nlohmann::json* p : dashboard_panels(dashboard)) {
    if (!p->contains("targets")) continue;
    for (const nlohmann::json& t : p->at("targets")) out.push_back(t.value("expr", ""));
  }
  return out;
}

Exposition Exposition::parse(const std::string& text) {
  Exposition exp;
  std::istringstream in(text);
  std::vector<std::pair<std::string, std::string>> samples;  // name, the {...} part
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    if (line[0] == '#') {
      std::istringstream words(line);
      std::string hash, keyword, name, type;
      if (words >> hash >> keyword >> name >> type && keyword == "TYPE") exp.types[name] = type;
      continue;
    }
    std::size_t end = 0;
    while (end < line.size() && is_ident_char(line[end])) ++end;
    const std::string name = line.substr(0, end);
    std::string body;
    if (end < line.size() && line[end] == '{') {
      body = line.substr(end, skip_group(line, end, '{', '}') - end);
    }
    exp.samples.insert(name);
    samples.emplace_back(name, body);
  }
  for (const auto& [name, body] : samples) {
    const std::string family = exp.family_of(name);
    if (family.empty()) {
      exp.undeclared.push_back(name);
      continue;
    }
    auto& seen = exp.labels[family];
    for (const std::string& l : matcher_labels(body)) {
      if (l != "le") seen.insert(l);
    }
  }
  return exp;
}

std::string Exposition::family_of(const std::string& name) const {
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

std::vector<MetricUse> monitoring_asset_uses() {
  std::vector<MetricUse> uses;
  const std::string alerts = read_repo_file("examples/prometheus/alerts.yml");
  for (const AlertRule& r : parse_alerts(alerts)) add_selectors(uses, "alert " + r.name, r.expr);
  add_words(uses, "alerts.yml", alerts);
  const std::string tests = read_repo_file("examples/prometheus/alerts_test.yml");
  for (const std::string& s : alert_test_series(tests)) {
    add_selectors(uses, "alerts_test.yml series", s);
  }
  add_words(uses, "alerts_test.yml", tests);
  const std::string text = read_repo_file("examples/grafana/policy-sidecar.json");
  for (const std::string& e : dashboard_exprs(nlohmann::json::parse(text))) {
    add_selectors(uses, "dashboard", e);
  }
  add_words(uses, "policy-sidecar.json", text);
  return uses;
}

bool prometheus_own_metric(const std::string& name) { return name == "up"; }
bool target_label(const std::string& label) { return label == "instance" || label == "job"; }

std::vector<std::string> missing_uses(const std::vector<MetricUse>& uses, const Exposition& exp) {
  std::vector<std::string> out;
  for (const MetricUse& u : uses) {
    const std::string in = u.expr.empty() ? "" : " (" + u.expr + ")";
    if (u.metric.empty()) {
      out.push_back(u.where + ": a selector without a metric name" + in);
      continue;
    }
    if (prometheus_own_metric(u.metric)) continue;
    const std::string family = exp.family_of(u.metric);
    if (family.empty()) {
      out.push_back(u.where + ": " + u.metric + " is not on /metrics" + in);
      continue;
    }
    const auto known = exp.labels.find(family);
    if (known == exp.labels.end()) continue;
    for (const std::string& l : u.labels) {
      const bool ok = target_label(l) || known->second.count(l) ||
                      (l == "le" && u.metric == family + "_bucket");
      if (!ok) out.push_back(u.where + ": " + u.metric + " has no label " + l + in);
    }
  }
  return out;
}

}  // namespace ps::testing
