#include "sidecar/server/metrics.h"

#include <dirent.h>
#include <unistd.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>
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

void Counter::set_total(const LabelValues& labels, double total) {
  check_arity(labels);
  if (std::isnan(total)) return;
  ps::MutexLock lock(mu_);
  double& v = values_[labels];
  if (total > v) v = total;
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

void Histogram::set_series(const LabelValues& labels, const std::vector<std::uint64_t>& buckets,
                           double sum, std::uint64_t count) {
  check_arity(labels);
  if (buckets.size() != bounds_.size() + 1) return;
  ps::MutexLock lock(mu_);
  Series& s = series_[labels];
  s.buckets = buckets;
  s.sum = sum;
  s.count = count;
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

const MetricFamily* MetricsRegistry::family(std::string_view name) const {
  ps::MutexLock lock(mu_);
  auto it = families_.find(std::string(name));
  return it == families_.end() ? nullptr : it->second.get();
}

// ---- process_* metrics ----

namespace {

std::optional<std::string> read_small_file(const char* path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();  // /proc files report size 0: read to the end instead
  if (in.bad()) return std::nullopt;
  return std::move(text).str();
}

std::vector<std::string_view> split_whitespace(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n')) ++i;
    const std::size_t start = i;
    while (i < s.size() && s[i] != ' ' && s[i] != '\t' && s[i] != '\n') ++i;
    if (i > start) out.push_back(s.substr(start, i - start));
  }
  return out;
}

std::optional<double> parse_unsigned(std::string_view s) {
  unsigned long long v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return static_cast<double>(v);
}

}  // namespace

std::optional<ProcStat> parse_proc_stat(std::string_view stat, double ticks_per_second,
                                        double boot_time, double page_size) {
  // "pid (comm) state ppid ...": the command name may hold anything, so fields are counted
  // from its closing parenthesis (the last one in the line).
  const std::size_t close = stat.rfind(')');
  if (close == std::string_view::npos || !(ticks_per_second > 0)) return std::nullopt;
  const auto f = split_whitespace(stat.substr(close + 1));
  // f[0] is field 3 (state): utime 14, stime 15, starttime 22, vsize 23, rss 24.
  if (f.size() < 22) return std::nullopt;
  const auto utime = parse_unsigned(f[11]);
  const auto stime = parse_unsigned(f[12]);
  const auto start = parse_unsigned(f[19]);
  const auto vsize = parse_unsigned(f[20]);
  const auto rss = parse_unsigned(f[21]);
  if (!utime || !stime || !start || !vsize || !rss) return std::nullopt;
  ProcStat p;
  p.cpu_seconds = (*utime + *stime) / ticks_per_second;
  p.start_time_seconds = boot_time + *start / ticks_per_second;
  p.virtual_bytes = *vsize;
  p.resident_bytes = *rss * page_size;
  return p;
}

std::optional<double> parse_boot_time(std::string_view proc_stat) {
  std::size_t pos = 0;
  while (pos < proc_stat.size()) {
    std::size_t eol = proc_stat.find('\n', pos);
    if (eol == std::string_view::npos) eol = proc_stat.size();
    const auto f = split_whitespace(proc_stat.substr(pos, eol - pos));
    if (f.size() == 2 && f[0] == "btime") return parse_unsigned(f[1]);
    pos = eol + 1;
  }
  return std::nullopt;
}

std::optional<double> parse_max_open_files(std::string_view limits) {
  constexpr std::string_view kLine = "Max open files";
  std::size_t pos = 0;
  while (pos < limits.size()) {
    std::size_t eol = limits.find('\n', pos);
    if (eol == std::string_view::npos) eol = limits.size();
    const std::string_view line = limits.substr(pos, eol - pos);
    if (line.substr(0, kLine.size()) == kLine) {
      const auto f = split_whitespace(line.substr(kLine.size()));  // soft, hard, units
      if (f.empty()) return std::nullopt;
      if (f[0] == "unlimited") return std::numeric_limits<double>::infinity();
      return parse_unsigned(f[0]);
    }
    pos = eol + 1;
  }
  return std::nullopt;
}

std::optional<double> count_open_fds() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return std::nullopt;
  const int own = ::dirfd(dir);
  double n = 0;
  while (const dirent* e = ::readdir(dir)) {
    const std::string_view name = e->d_name;
    if (name == "." || name == "..") continue;
    const auto fd = parse_unsigned(name);
    if (fd && *fd == own) continue;
    ++n;
  }
  ::closedir(dir);
  return n;
}

ProcessSample read_process_sample() {
  ProcessSample s;
  const auto stat = read_small_file("/proc/self/stat");
  const auto system_stat = read_small_file("/proc/stat");
  const auto boot_time = system_stat ? parse_boot_time(*system_stat) : std::nullopt;
  const long ticks = ::sysconf(_SC_CLK_TCK);
  const long page = ::sysconf(_SC_PAGESIZE);
  if (stat && ticks > 0 && page > 0) {
    if (auto p = parse_proc_stat(*stat, static_cast<double>(ticks), boot_time.value_or(0),
                                 static_cast<double>(page))) {
      s.cpu_seconds = p->cpu_seconds;
      s.virtual_bytes = p->virtual_bytes;
      s.resident_bytes = p->resident_bytes;
      if (boot_time) s.start_time_seconds = p->start_time_seconds;
    }
  }
  s.open_fds = count_open_fds();
  if (const auto limits = read_small_file("/proc/self/limits")) {
    s.max_fds = parse_max_open_files(*limits);
  }
  return s;
}

void register_process_metrics(MetricsRegistry& r) {
  Counter& cpu =
      r.counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.");
  Gauge& start = r.gauge("process_start_time_seconds",
                         "Start time of the process since unix epoch in seconds.");
  Gauge& vmem = r.gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.");
  Gauge& rss = r.gauge("process_resident_memory_bytes", "Resident memory size in bytes.");
  Gauge& fds = r.gauge("process_open_fds", "Number of open file descriptors.");
  Gauge& max_fds = r.gauge("process_max_fds", "Maximum number of open file descriptors.");
  r.add_collector([&cpu, &start, &vmem, &rss, &fds, &max_fds] {
    const ProcessSample s = read_process_sample();
    if (s.cpu_seconds) cpu.set_total({}, *s.cpu_seconds);
    const auto put = [](Gauge& g, const std::optional<double>& v) {
      if (v) {
        g.set(*v);
      } else {
        g.clear();  // no sample rather than a stale one
      }
    };
    put(start, s.start_time_seconds);
    put(vmem, s.virtual_bytes);
    put(rss, s.resident_bytes);
    put(fds, s.open_fds);
    put(max_fds, s.max_fds);
  });
}

}  // namespace ps::sidecar::server
