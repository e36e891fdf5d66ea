#include "sidecar/server/metrics.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include "engine/base/mutex.h"

namespace ps::sidecar::server {

std::string format_metric_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
    return buf;
  }
  // The shortest of %.15g..%.17g that reads back as the same double: 0.1, not 0.10000000000000001.
  char buf[40];
  for (int precision = 15; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

std::string escape_label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string escape_help(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

bool is_valid_metric_name(std::string_view name) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

bool is_valid_label_name(std::string_view name) {
  if (name.find(':') != std::string_view::npos || name.substr(0, 2) == "__") return false;
  return is_valid_metric_name(name);
}

std::vector<double> latency_buckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

MetricFamily::MetricFamily(std::string name, std::string help,
                           std::vector<std::string> label_names)
    : name_(std::move(name)), help_(std::move(help)), label_names_(std::move(label_names)) {
  if (!is_valid_metric_name(name_)) throw std::invalid_argument("bad metric name " + name_);
  for (const auto& l : label_names_) {
    if (!is_valid_label_name(l) || l == "le") {
      throw std::invalid_argument("bad label name " + l + " on " + name_);
    }
  }
}

void MetricFamily::check_arity(const LabelValues& values) const {
  if (values.size() != label_names_.size()) {
    throw std::invalid_argument("metric " + name_ + " takes " +
                                std::to_string(label_names_.size()) + " label values");
  }
}

std::string MetricFamily::label_text(const LabelValues& values, std::string_view extra) const {
  if (values.empty() && extra.empty()) return "";
  std::string out = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    out += label_names_[i] + "=\"" + escape_label_value(values[i]) + "\"";
  }
  if (!extra.empty()) {
    if (!values.empty()) out += ',';
    out += extra;
  }
  out += '}';
  return out;
}

void MetricFamily::render_header(std::string& out, std::string_view type) const {
  out += "# HELP " + name_ + " " + escape_help(help_) + "\n";
  out += "# TYPE " + name_ + " " + std::string(type) + "\n";
}

void Counter::inc(const LabelValues& labels, double by) {
  check_arity(labels);
  if (!(by >= 0)) return;
  ps::MutexLock lock(mu_);
  values_[labels] += by;
}

double Counter::value(const LabelValues& labels) const {
  ps::MutexLock lock(mu_);
  auto it = values_.find(labels);
  return it == values_.end() ? 0 : it->second;
}

void Counter::render(std::string& out) const {
  render_header(out, "counter");
  ps::MutexLock lock(mu_);
  // A counter without labels is always shown (0 before the first event) so rate() works.
  if (values_.empty() && label_names_.empty()) out += name_ + " 0\n";
  for (const auto& [labels, v] : values_) {
    out += name_ + label_text(labels) + " " + format_metric_value(v) + "\n";
  }
}

void Gauge::set(const LabelValues& labels, double value) {
  check_arity(labels);
  ps::MutexLock lock(mu_);
  values_[labels] = value;
}

void Gauge::add(const LabelValues& labels, double delta) {
  check_arity(labels);
  ps::MutexLock lock(mu_);
  values_[labels] += delta;
}

void Gauge::clear() {
  ps::MutexLock lock(mu_);
  values_.clear();
}

double Gauge::value(const LabelValues& labels) const {
  ps::MutexLock lock(mu_);
  auto it = values_.find(labels);
  return it == values_.end() ? 0 : it->second;
}

void Gauge::render(std::string& out) const {
  render_header(out, "gauge");
  ps::MutexLock lock(mu_);
  for (const auto& [labels, v] : values_) {
    out += name_ + label_text(labels) + " " + format_metric_value(v) + "\n";
  }
}

Histogram::Histogram(std::string name, std::string help, std::vector<std::string> label_names,
                     std::vector<double> bounds)
    : MetricFamily(std::move(name), std::move(help), std::move(label_names)),
      bounds_(std::move(bounds)) {
  for (std::size_t i = 1; i < bounds_.size(); ++i) {
    if (!(bounds_[i] > bounds_[i - 1])) {
      throw std::invalid_argument("histogram " + name_ + ": bounds must increase");
    }
  }
}

void Histogram::observe(const LabelValues& labels, double value) {
  check_arity(labels);
  std::size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i]) ++i;
  ps::MutexLock lock(mu_);
  Series& s = series_[labels];
  if (s.buckets.empty()) s.buckets.assign(bounds_.size() + 1, 0);
  ++s.buckets[i];
  s.sum += value;
  ++s.count;
}

std::uint64_t Histogram::count(const LabelValues& labels) const {
  ps::MutexLock lock(mu_);
  auto it = series_.find(labels);
  return it == series_.end() ? 0 : it->second.count;
}

void Histogram::render(std::string& out) const {
  render_header(out, "histogram");
  ps::MutexLock lock(mu_);
  for (const auto& [labels, s] : series_) {
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i <= bounds_.size(); ++i) {
      cumulative += s.buckets[i];
      const std::string le = i < bounds_.size() ? format_metric_value(bounds_[i]) : "+Inf";
      out += name_ + "_bucket" + label_text(labels, "le=\"" + le + "\"") + " " +
             std::to_string(cumulative) + "\n";
    }
    out += name_ + "_sum" + label_text(labels) + " " + format_metric_value(s.sum) + "\n";
    out += name_ + "_count" + label_text(labels) + " " + std::to_string(s.count) + "\n";
  }
}

template <class T, class... Args>
T& MetricsRegistry::add(std::string name, Args&&... args) {
  auto family = std::make_unique<T>(name, std::forward<Args>(args)...);
  T& ref = *family;
  ps::MutexLock lock(mu_);
  if (!families_.emplace(name, std::move(family)).second) {
    throw std::invalid_argument("metric " + name + " registered twice");
  }
  return ref;
}

Counter& MetricsRegistry::counter(std::string name, std::string help,
                                  std::vector<std::string> labels) {
  return add<Counter>(std::move(name), std::move(help), std::move(labels));
}

Gauge& MetricsRegistry::gauge(std::string name, std::string help,
                              std::vector<std::string> labels) {
  return add<Gauge>(std::move(name), std::move(help), std::move(labels));
}

Histogram& MetricsRegistry::histogram(std::string name, std::string help,
                                      std::vector<std::string> labels,
                                      std::vector<double> bounds) {
  return add<Histogram>(std::move(name), std::move(help), std::move(labels), std::move(bounds));
}

void MetricsRegistry::add_collector(std::function<void()> collect) {
  ps::MutexLock lock(mu_);
  collectors_.push_back(std::move(collect));
}

std::string MetricsRegistry::render() const {
  std::vector<std::function<void()>> collectors;
  {
    ps::MutexLock lock(mu_);
    collectors = collectors_;
  }
  for (const auto& c : collectors) c();
  std::string out;
  ps::MutexLock lock(mu_);
  for (const auto& [name, family] : families_) family->render(out);
  return out;
}

}  // namespace ps::sidecar::server
