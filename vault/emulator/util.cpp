#include "vault/emulator/util.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <ctime>
#include <set>
#include <stdexcept>

#include <openssl/rand.h>

namespace ps::vault::emulator {

Status io_error(int err, std::string message) {
  Code code = err == ENOENT                   ? Code::not_found
              : err == EACCES || err == EPERM ? Code::permission_denied
                                              : Code::unavailable;
  return Status(code, std::move(message) + ": " + std::strerror(err));
}

std::string multierror(const std::vector<std::string>& messages) {
  std::string out = messages.size() == 1 ? "1 error occurred:\n"
                                         : std::to_string(messages.size()) + " errors occurred:\n";
  for (const auto& m : messages) out += "\t* " + m + "\n";
  out += "\n";
  return out;
}

std::string go_duration(std::int64_t seconds) {
  if (seconds == 0) return "0s";
  std::string sign = seconds < 0 ? "-" : "";
  std::int64_t s = seconds < 0 ? -seconds : seconds;
  std::int64_t h = s / 3600, m = (s % 3600) / 60, sec = s % 60;
  if (h > 0) return sign + std::to_string(h) + "h" + std::to_string(m) + "m" + std::to_string(sec) + "s";
  if (m > 0) return sign + std::to_string(m) + "m" + std::to_string(sec) + "s";
  return sign + std::to_string(sec) + "s";
}

namespace {

std::optional<std::int64_t> parse_int(std::string_view t) {
  if (t.empty()) return std::nullopt;
  std::size_t i = 0;
  bool neg = false;
  if (t[0] == '+' || t[0] == '-') {
    neg = t[0] == '-';
    i = 1;
  }
  if (i == t.size()) return std::nullopt;
  std::int64_t v = 0;
  for (; i < t.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(t[i]))) return std::nullopt;
    if (v > (INT64_MAX - 9) / 10) return std::nullopt;
    v = v * 10 + (t[i] - '0');
  }
  return neg ? -v : v;
}

// Go's time.ParseDuration, returning nanoseconds as a double (precision is ample here).
std::optional<double> parse_go_duration_ns(std::string_view t) {
  if (t.empty()) return std::nullopt;
  double sign = 1;
  if (t[0] == '+' || t[0] == '-') {
    if (t[0] == '-') sign = -1;
    t.remove_prefix(1);
  }
  if (t == "0") return 0.0;
  if (t.empty()) return std::nullopt;
  double total = 0;
  while (!t.empty()) {
    std::size_t i = 0;
    while (i < t.size() && (std::isdigit(static_cast<unsigned char>(t[i])) || t[i] == '.')) ++i;
    if (i == 0) return std::nullopt;
    std::string num(t.substr(0, i));
    if (std::count(num.begin(), num.end(), '.') > 1 || num == ".") return std::nullopt;
    double value = std::strtod(num.c_str(), nullptr);
    t.remove_prefix(i);
    std::size_t j = 0;
    while (j < t.size() && !std::isdigit(static_cast<unsigned char>(t[j])) && t[j] != '.') ++j;
    std::string_view unit = t.substr(0, j);
    t.remove_prefix(j);
    double mult;
    if (unit == "ns") mult = 1;
    else if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs") mult = 1e3;
    else if (unit == "ms") mult = 1e6;
    else if (unit == "s") mult = 1e9;
    else if (unit == "m") mult = 60e9;
    else if (unit == "h") mult = 3600e9;
    else return std::nullopt;
    total += value * mult;
  }
  return sign * total;
}

}  // namespace

std::optional<std::int64_t> parse_duration_seconds(std::string_view text) {
  if (text.empty()) return 0;
  if (auto v = parse_int(text)) return *v;
  if (text.back() == 'd') {
    auto v = parse_int(text.substr(0, text.size() - 1));
    if (!v) return std::nullopt;
    return *v * 86400;
  }
  auto ns = parse_go_duration_ns(text);
  if (!ns) return std::nullopt;
  return static_cast<std::int64_t>(std::trunc(*ns / 1e9));
}

std::optional<bool> parse_go_bool(std::string_view t) {
  if (t == "1" || t == "t" || t == "T" || t == "TRUE" || t == "true" || t == "True") return true;
  if (t == "0" || t == "f" || t == "F" || t == "FALSE" || t == "false" || t == "False") return false;
  return std::nullopt;
}

namespace {

std::string format_utc(WallTime t, bool with_nanos) {
  using namespace std::chrono;
  auto since = t.time_since_epoch();
  auto secs = duration_cast<seconds>(since);
  auto nanos = duration_cast<nanoseconds>(since - secs).count();
  if (nanos < 0) {
    secs -= seconds{1};
    nanos += 1'000'000'000;
  }
  std::time_t tt = static_cast<std::time_t>(secs.count());
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out = buf;
  if (with_nanos && nanos != 0) {
    char frac[32];
    std::snprintf(frac, sizeof frac, ".%09lld", static_cast<long long>(nanos));
    std::string f = frac;
    while (f.back() == '0') f.pop_back();
    out += f;
  }
  return out + "Z";
}

}  // namespace

std::string rfc3339_nano(WallTime t) {
  if (t == WallTime{}) return "0001-01-01T00:00:00Z";
  return format_utc(t, true);
}

std::string rfc3339_millis(WallTime t) {
  std::string base = format_utc(t, false);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count() % 1000;
  if (ms < 0) ms += 1000;
  char frac[32];
  std::snprintf(frac, sizeof frac, ".%03lld", static_cast<long long>(ms));
  return base.substr(0, base.size() - 1) + frac + "Z";
}

std::int64_t unix_seconds(WallTime t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

namespace {
void random_bytes(unsigned char* out, std::size_t n) {
  if (RAND_bytes(out, static_cast<int>(n)) != 1) throw std::runtime_error("RAND_bytes failed");
}
}  // namespace

std::string random_uuid() {
  unsigned char b[16];
  random_bytes(b, sizeof b);
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);
  char out[37];
  std::snprintf(out, sizeof out,
                "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
                b[15]);
  return out;
}

std::string random_base62(std::size_t length) {
  static constexpr char kAlphabet[] =
      "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  std::string out;
  out.reserve(length);
  unsigned char buf[64];
  while (out.size() < length) {
    random_bytes(buf, sizeof buf);
    for (unsigned char c : buf) {
      if (c >= 248) continue;  // 248 = 4 * 62: keeps the draw uniform
      out.push_back(kAlphabet[c % 62]);
      if (out.size() == length) break;
    }
  }
  return out;
}

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string trim(std::string_view s) {
  std::size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (true) {
    std::size_t pos = s.find(sep, start);
    if (pos == std::string_view::npos) {
      out.emplace_back(s.substr(start));
      return out;
    }
    out.emplace_back(s.substr(start, pos - start));
    start = pos + 1;
  }
}

std::string join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i) out += sep;
    out += parts[i];
  }
  return out;
}

std::vector<std::string> sanitize_policies(const std::vector<std::string>& in, bool add_default) {
  std::set<std::string> set;
  for (const auto& p : in) {
    std::string v = to_lower(trim(p));
    if (v == "root") return {"root"};  // root replaces every other policy
    if (!v.empty()) set.insert(v);
  }
  if (add_default) set.insert("default");
  return {set.begin(), set.end()};
}

namespace {

struct Net {
  int family = 0;
  unsigned char addr[16]{};
  int bits = 0;
};

std::optional<Net> parse_ip(std::string_view ip) {
  std::string s(ip);
  Net n;
  if (inet_pton(AF_INET, s.c_str(), n.addr) == 1) {
    n.family = AF_INET;
    n.bits = 32;
    return n;
  }
  if (inet_pton(AF_INET6, s.c_str(), n.addr) == 1) {
    n.family = AF_INET6;
    n.bits = 128;
    return n;
  }
  return std::nullopt;
}

std::optional<Net> parse_cidr(std::string_view cidr) {
  std::string_view addr = cidr;
  std::optional<int> bits;
  if (auto slash = cidr.find('/'); slash != std::string_view::npos) {
    addr = cidr.substr(0, slash);
    auto b = parse_int(cidr.substr(slash + 1));
    if (!b || *b < 0) return std::nullopt;
    bits = static_cast<int>(*b);
  }
  auto n = parse_ip(addr);
  if (!n) return std::nullopt;
  if (bits) {
    if (*bits > n->bits) return std::nullopt;
    n->bits = *bits;
  }
  return n;
}

// An IPv4-mapped IPv6 address ("::ffff:1.2.3.4") compares as IPv4.
Net unmap(Net n) {
  static const unsigned char kPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (n.family == AF_INET6 && std::memcmp(n.addr, kPrefix, 12) == 0) {
    Net v4;
    v4.family = AF_INET;
    std::memcpy(v4.addr, n.addr + 12, 4);
    v4.bits = n.bits >= 96 ? n.bits - 96 : 0;
    return v4;
  }
  return n;
}

}  // namespace

bool valid_cidr(std::string_view cidr) { return parse_cidr(trim(cidr)).has_value(); }

bool ip_in_cidr(std::string_view ip, std::string_view cidr) {
  auto a = parse_ip(ip);
  auto c = parse_cidr(trim(cidr));
  if (!a || !c) return false;
  Net addr = unmap(*a), net = unmap(*c);
  if (addr.family != net.family) return false;
  int full = net.bits / 8, rest = net.bits % 8;
  if (std::memcmp(addr.addr, net.addr, static_cast<std::size_t>(full)) != 0) return false;
  if (rest == 0) return true;
  unsigned char mask = static_cast<unsigned char>(0xff << (8 - rest));
  return (addr.addr[full] & mask) == (net.addr[full] & mask);
}

bool ip_in_any_cidr(std::string_view ip, const std::vector<std::string>& cidrs) {
  for (const auto& c : cidrs) {
    if (ip_in_cidr(ip, c)) return true;
  }
  return false;
}

bool cidrs_subset(const std::vector<std::string>& inner, const std::vector<std::string>& outer) {
  if (inner.empty() || outer.empty()) return true;
  for (const auto& in : inner) {
    auto i = parse_cidr(trim(in));
    if (!i) return false;
    bool inside = false;
    for (const auto& out : outer) {
      auto o = parse_cidr(trim(out));
      if (!o) continue;
      char text[INET6_ADDRSTRLEN];
      Net ni = unmap(*i);
      inet_ntop(ni.family, ni.addr, text, sizeof text);
      if (ni.bits >= unmap(*o).bits && ip_in_cidr(text, out)) inside = true;
    }
    if (!inside) return false;
  }
  return true;
}

std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size() || !std::isxdigit(static_cast<unsigned char>(s[i + 1])) ||
        !std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      return std::nullopt;
    }
    out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
    i += 2;
  }
  return out;
}

std::string clean_url_path(std::string_view p) {
  if (p.empty()) return "/";
  std::vector<std::string> out;
  for (auto& seg : split(p, '/')) {
    if (seg.empty() || seg == ".") continue;
    if (seg == "..") {
      if (!out.empty()) out.pop_back();
      continue;
    }
    out.push_back(seg);
  }
  // Appended segment by segment ("/" + join(...) trips a GCC 12 -Wrestrict false positive in
  // the inlined operator+(const char*, std::string&&) at -O2/-O3).
  std::string cleaned;
  for (const auto& seg : out) {
    cleaned += '/';
    cleaned += seg;
  }
  if (cleaned.empty()) return "/";
  if (p.back() == '/') cleaned += '/';
  return cleaned;
}

}  // namespace ps::vault::emulator
