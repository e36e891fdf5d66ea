#include "engine/rules/timestamp.h"

#include <cstdint>
#include <cstdio>

namespace ps::engine {
namespace {

// Howard Hinnant's days_from_civil / civil_from_days (proleptic Gregorian, no time zones).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

struct Civil {
  std::int64_t y;
  unsigned m, d;
};

Civil civil_from_days(std::int64_t z) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2), m, d};
}

bool is_leap(std::int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned days_in_month(std::int64_t y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : kDays[m - 1];
}

// A cursor over the text that reads fixed-width digit fields.
class Reader {
 public:
  explicit Reader(std::string_view s) : s_(s) {}
  bool digits(int n, int& out) {
    if (pos_ + static_cast<std::size_t>(n) > s_.size()) return false;
    int v = 0;
    for (int i = 0; i < n; ++i) {
      const char c = s_[pos_ + static_cast<std::size_t>(i)];
      if (c < '0' || c > '9') return false;
      v = v * 10 + (c - '0');
    }
    pos_ += static_cast<std::size_t>(n);
    out = v;
    return true;
  }
  bool accept(char c) {
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool peek_digit() const { return pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9'; }
  bool done() const { return pos_ == s_.size(); }
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }

 private:
  std::string_view s_;
  std::size_t pos_ = 0;
};

}  // namespace

std::optional<WallTime> parse_iso8601(std::string_view text) {
  Reader r(text);
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  std::int64_t micros = 0;
  if (!r.digits(4, year) || !r.accept('-') || !r.digits(2, month) || !r.accept('-') ||
      !r.digits(2, day)) {
    return std::nullopt;
  }
  if (month < 1 || month > 12 || day < 1 ||
      day > static_cast<int>(days_in_month(year, static_cast<unsigned>(month)))) {
    return std::nullopt;
  }
  if (r.accept('T') || r.accept('t') || r.accept(' ')) {
    if (!r.digits(2, hour) || !r.accept(':') || !r.digits(2, minute)) return std::nullopt;
    if (r.accept(':')) {
      if (!r.digits(2, second)) return std::nullopt;
      if (r.accept('.') || r.accept(',')) {
        if (!r.peek_digit()) return std::nullopt;
        int scale = 100000;
        while (r.peek_digit()) {
          int digit = 0;
          r.digits(1, digit);
          micros += digit * scale;
          scale /= 10;
        }
      }
    }
    if (hour > 23 || minute > 59 || second > 59) return std::nullopt;
  }
  int offset_minutes = 0;
  if (r.accept('Z') || r.accept('z')) {
  } else if (r.peek() == '+' || r.peek() == '-') {
    const int sign = r.peek() == '-' ? -1 : 1;
    r.accept(r.peek());
    int oh = 0, om = 0;
    if (!r.digits(2, oh)) return std::nullopt;
    if (r.accept(':')) {
      if (!r.digits(2, om)) return std::nullopt;
    } else if (r.peek_digit()) {
      if (!r.digits(2, om)) return std::nullopt;
    }
    if (oh > 23 || om > 59) return std::nullopt;
    offset_minutes = sign * (oh * 60 + om);
  }
  if (!r.done()) return std::nullopt;

  const std::int64_t days = days_from_civil(year, static_cast<unsigned>(month),
                                            static_cast<unsigned>(day));
  const std::int64_t secs = days * 86400 + hour * 3600 + minute * 60 + second -
                            static_cast<std::int64_t>(offset_minutes) * 60;
  // WallTime counts nanoseconds in 64 bits (about 1678 to 2261): outside that, converting
  // would overflow (undefined behaviour, found by tests/fuzz/engine/rules/timestamp_fuzz.cpp).
  constexpr std::int64_t kMinSecs =
      std::chrono::duration_cast<std::chrono::seconds>(WallTime::duration::min()).count() + 1;
  constexpr std::int64_t kMaxSecs =
      std::chrono::duration_cast<std::chrono::seconds>(WallTime::duration::max()).count() - 1;
  if (secs < kMinSecs || secs > kMaxSecs) return std::nullopt;
  return WallTime{std::chrono::duration_cast<WallTime::duration>(
      std::chrono::seconds{secs} + std::chrono::microseconds{micros})};
}

std::string format_isoformat_utc(WallTime t) {
  using namespace std::chrono;
  const auto us = floor<microseconds>(t.time_since_epoch()).count();
  std::int64_t secs = us / 1000000;
  std::int64_t frac = us % 1000000;
  if (frac < 0) {
    frac += 1000000;
    secs -= 1;
  }
  std::int64_t days = secs / 86400;
  std::int64_t sod = secs % 86400;
  if (sod < 0) {
    sod += 86400;
    days -= 1;
  }
  const Civil c = civil_from_days(days);
  char buf[64];
  int n = std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lld",
                        static_cast<long long>(c.y), c.m, c.d, static_cast<long long>(sod / 3600),
                        static_cast<long long>(sod / 60 % 60), static_cast<long long>(sod % 60));
  std::string out(buf, static_cast<std::size_t>(n));
  if (frac != 0) {
    n = std::snprintf(buf, sizeof buf, ".%06lld", static_cast<long long>(frac));
    out.append(buf, static_cast<std::size_t>(n));
  }
  out += "+00:00";
  return out;
}

}  // namespace ps::engine
