// A small Prometheus metrics registry: counters, gauges and histograms with labels, rendered
// in the text exposition format 0.0.4 (# HELP / # TYPE lines, label values escaped, families
// and series in a stable order).
//
// Families are created once at start-up (names and label names are checked then: a bad name
// is a programming error and throws std::invalid_argument); updates are thread-safe and cheap
// (one mutex per family). Gauges that mirror external state (outbox depth, token TTL) are
// refreshed by collectors, which render() runs first.
//
// register_process_metrics() adds the standard process_* families (read from /proc/self at
// every scrape), as Prometheus client libraries export them.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
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
  const std::vector<std::string>& label_names() const { return label_names_; }
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
  // For collectors mirroring a total kept elsewhere (CPU seconds from /proc): sets the value,
  // unless it is lower than the current one (a counter never goes down) or NaN.
  void set_total(const LabelValues& labels, double total);
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
  // For collectors mirroring a histogram kept elsewhere (the ledger's lock waits): replaces the
  // series. `buckets` are non-cumulative, one per bound plus +Inf (other sizes are ignored).
  void set_series(const LabelValues& labels, const std::vector<std::uint64_t>& buckets,
                  double sum, std::uint64_t count);
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
  // The family registered under `name`, or nullptr.
  const MetricFamily* family(std::string_view name) const;

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

// ---- process_* metrics (Linux /proc) ----

// What /proc/<pid>/stat says, converted to the metrics' units.
struct ProcStat {
  double cpu_seconds = 0;         // utime + stime
  double start_time_seconds = 0;  // since the Unix epoch
  double virtual_bytes = 0;       // vsize
  double resident_bytes = 0;      // rss pages * page size
};
// Parses the text of /proc/<pid>/stat (the command name in parentheses may hold spaces and
// parentheses). `ticks_per_second`: sysconf(_SC_CLK_TCK); `boot_time`: parse_boot_time() of
// /proc/stat; `page_size`: sysconf(_SC_PAGESIZE). nullopt when the text is not understood.
std::optional<ProcStat> parse_proc_stat(std::string_view stat, double ticks_per_second,
                                        double boot_time, double page_size);
// The `btime` line of /proc/stat (seconds since the epoch the system booted).
std::optional<double> parse_boot_time(std::string_view proc_stat);
// The soft limit of the "Max open files" line of /proc/<pid>/limits (+Inf for unlimited).
std::optional<double> parse_max_open_files(std::string_view limits);
// Entries of /proc/self/fd, not counting the descriptor used to list them.
std::optional<double> count_open_fds();

// One reading of the six process_* values; a value that could not be read is nullopt.
struct ProcessSample {
  std::optional<double> cpu_seconds, start_time_seconds, virtual_bytes, resident_bytes,
      open_fds, max_fds;
};
ProcessSample read_process_sample();

// Registers process_cpu_seconds_total, process_start_time_seconds,
// process_virtual_memory_bytes, process_resident_memory_bytes, process_open_fds and
// process_max_fds on `registry`, with a collector that reads /proc/self at every render
// (a gauge whose value could not be read shows no sample).
void register_process_metrics(MetricsRegistry& registry);

}  // namespace ps::sidecar::server
