#include "vault/types.h"

namespace ps::vault {

std::string_view to_string(Operation op) {
  switch (op) {
    case Operation::health: return "health";
    case Operation::leader: return "leader";
    case Operation::seal_status: return "seal_status";
    case Operation::read_role: return "read_role";
    case Operation::read_role_policies: return "read_role_policies";
    case Operation::write_role_policies: return "write_role_policies";
    case Operation::list_roles: return "list_roles";
    case Operation::write_role: return "write_role";
    case Operation::approle_login: return "approle_login";
    case Operation::lookup_self: return "lookup_self";
    case Operation::renew_self: return "renew_self";
    case Operation::list_secret_id_accessors: return "list_secret_id_accessors";
    case Operation::destroy_secret_id_accessor: return "destroy_secret_id_accessor";
    case Operation::list_token_accessors: return "list_token_accessors";
    case Operation::lookup_token_accessor: return "lookup_token_accessor";
    case Operation::revoke_token_accessor: return "revoke_token_accessor";
    case Operation::lookup_secret_id_accessor: return "lookup_secret_id_accessor";
    case Operation::delete_role: return "delete_role";
    case Operation::capabilities_self: return "capabilities_self";
    case Operation::read_policy: return "read_policy";
  }
  return "unknown";
}

std::string_view to_string(HealthState state) {
  switch (state) {
    case HealthState::active: return "active";
    case HealthState::standby: return "standby";
    case HealthState::dr_secondary: return "dr_secondary";
    case HealthState::performance_standby: return "performance_standby";
    case HealthState::ha_unhealthy: return "ha_unhealthy";
    case HealthState::uninitialized: return "uninitialized";
    case HealthState::sealed: return "sealed";
    case HealthState::removed: return "removed";
  }
  return "unknown";
}

namespace {

// Days from 1970-01-01 to the civil date (Howard Hinnant's algorithm).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

bool digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > s.size()) return false;
  out = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

}  // namespace

std::optional<std::int64_t> rfc3339_unix_ms(std::string_view s) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  if (!digits(s, 0, 4, y) || s.size() < 19 || s[4] != '-' || !digits(s, 5, 2, mo) ||
      s[7] != '-' || !digits(s, 8, 2, d) || (s[10] != 'T' && s[10] != 't') ||
      !digits(s, 11, 2, h) || s[13] != ':' || !digits(s, 14, 2, mi) || s[16] != ':' ||
      !digits(s, 17, 2, sec)) {
    return std::nullopt;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return std::nullopt;
  std::size_t pos = 19;
  std::int64_t ms = 0;
  if (pos < s.size() && s[pos] == '.') {
    std::size_t n = 0;
    for (++pos; pos < s.size() && s[pos] >= '0' && s[pos] <= '9'; ++pos, ++n) {
      if (n < 3) ms = ms * 10 + (s[pos] - '0');
    }
    if (n == 0) return std::nullopt;
    for (; n < 3; ++n) ms *= 10;
  }
  std::int64_t offset_min = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh = 0, om = 0;
    if (!digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !digits(s, pos + 4, 2, om)) {
      return std::nullopt;
    }
    offset_min = (s[pos] == '+' ? 1 : -1) * (oh * 60 + om);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  const std::int64_t days = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  const std::int64_t seconds = days * 86400 + h * 3600 + mi * 60 + sec - offset_min * 60;
  return seconds * 1000 + ms;
}

}  // namespace ps::vault
