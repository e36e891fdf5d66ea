// A small Prometheus metrics registry: counters, gauges and histograms with labels, rendered
// in the text exposition format 0.0.4 (# HELP / # TYPE lines, label values escaped, families
// and series in a stable order).
//
// Families are created once at start-up (names and label names are checked then: a bad name
// is a programming error and throws std::invalid_argument); updates are thread-safe and cheap
// (one mutex per family). Gauges that mirror external state (outbox depth, token TTL) are
// refreshed by collectors, which render() runs first.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "engine/base/mutex.h"

namespace ps::sidecar::server {

using LabelValues = std::vector<std::string>;

class MetricFamily {
 public:
  MetricFamily(std::string name, std::string help, std::vector<std::string> label_names);
  virtual ~MetricFamily() = default;
  const std::string& name() const { return name_; }
  virtual void render(std::string& out) const = 0;

 protected:
  // `{a="x",b="y"}` (with `extra` appended, e.g. le="0.5"), or "" when there are no labels.
  std::string label_text(const LabelValues& values, std::string_view extra = {}) const;
  void check_arity(const LabelValues& values) const;  // throws std::invalid_argument
  void render_header(std::string& out, std::string_view type) const;

  const std::string name_;
  const std::string help_;
  const std::vector<std::string> label_names_;
  mutable ps::Mutex mu_;
};

class Counter final : public MetricFamily {
 public:
  using MetricFamily::MetricFamily;
  // REQUIRES: by >= 0 (a counter never goes down; negative values are ignored).
  void inc(const LabelValues& labels = {}, double by = 1);
  double value(const LabelValues& labels = {}) const;
  void render(std::string& out) const override;

 private:
  std::map<LabelValues, double> values_ GUARDED_BY(mu_);
};

class Gauge final : public MetricFamily {
 public:
  using MetricFamily::MetricFamily;
  void set(const LabelValues& labels, double value);
  void set(double value) { set({}, value); }
  void add(const LabelValues& labels, double delta);
  // Drops every series (before a collector sets the current ones).
  void clear();
  double value(const LabelValues& labels = {}) const;
  void render(std::string& out) const override;

 private:
  std::map<LabelValues, double> values_ GUARDED_BY(mu_);
};

class Histogram final : public MetricFamily {
 public:
  // `bounds`: upper bounds of the buckets, strictly increasing; +Inf is implicit.
  Histogram(std::string name, std::string help, std::vector<std::string> label_names,
            std::vector<double> bounds);
  void observe(const LabelValues& labels, double value);
  void observe(double value) { observe({}, value); }
  std::uint64_t count(const LabelValues& labels = {}) const;
  void render(std::string& out) const override;

 private:
  struct Series {
    std::vector<std::uint64_t> buckets;  // non-cumulative, one per bound, plus +Inf
    double sum = 0;
    std::uint64_t count = 0;
  };
  const std::vector<double> bounds_;
  std::map<LabelValues, Series> series_ GUARDED_BY(mu_);
};

class MetricsRegistry {
 public:
  Counter& counter(std::string name, std::string help, std::vector<std::string> labels = {});
  Gauge& gauge(std::string name, std::string help, std::vector<std::string> labels = {});
  Histogram& histogram(std::string name, std::string help, std::vector<std::string> labels,
                       std::vector<double> bounds);
  // Runs before every render (outside the registry's lock), e.g. to read the outbox depth.
  void add_collector(std::function<void()> collect);

  // The exposition text; families in name order.
  std::string render() const;

 private:
  template <class T, class... Args>
  T& add(std::string name, Args&&... args);

  mutable ps::Mutex mu_;
  std::map<std::string, std::unique_ptr<MetricFamily>> families_ GUARDED_BY(mu_);
  std::vector<std::function<void()>> collectors_ GUARDED_BY(mu_);
};

// Prometheus number formatting: integers without a fraction, +Inf, -Inf, NaN.
std::string format_metric_value(double v);
// Escapes a label value (\\, \", \n) or HELP text (\\, \n).
std::string escape_label_value(std::string_view v);
std::string escape_help(std::string_view v);
// [a-zA-Z_:][a-zA-Z0-9_:]* for metric names; labels without ':' and not starting "__".
bool is_valid_metric_name(std::string_view name);
bool is_valid_label_name(std::string_view name);

// Default latency buckets in seconds (1 ms .. 10 s).
std::vector<double> latency_buckets();

}  // namespace ps::sidecar::server
