#include "sidecar/config/config_serve.h"

#include <arpa/inet.h>

#include <cmath>
#include <functional>
#include <limits>
#include <map>

#include "engine/rules/rules_config.h"
#include "sidecar/config/config.h"

namespace ps::sidecar {
namespace {

using json = nlohmann::ordered_json;

Status invalid(const std::string& path, const std::string& what) {
  return {Code::invalid_argument, "config: " + path + ": " + what};
}

// One key of a section: checks the value and stores it. Returns "" or what is wrong.
using KeyParser = std::function<std::string(const json&)>;

// Walks `section` (must be an object), dispatching each key to its parser; unknown keys are
// refused with the list of known ones.
Status parse_keys(const json& section, const std::string& path,
                  const std::vector<std::pair<std::string, KeyParser>>& keys) {
  if (!section.is_object()) return invalid(path, "must be an object");
  for (const auto& [key, value] : section.items()) {
    const std::string key_path = engine::config_key_path(path, key);
    const KeyParser* parser = nullptr;
    for (const auto& [name, p] : keys) {
      if (name == key) parser = &p;
    }
    if (!parser) {
      std::string known;
      for (const auto& k : keys) known += (known.empty() ? "" : ", ") + k.first;
      return invalid(key_path, "unknown key (known: " + known + ")");
    }
    if (std::string what = (*parser)(value); !what.empty()) return invalid(key_path, what);
  }
  return Status::success();
}

KeyParser string_key(std::string& out, bool allow_empty = true) {
  return [&out, allow_empty](const json& v) -> std::string {
    if (!v.is_string() || (!allow_empty && v.get<std::string>().empty())) {
      return allow_empty ? "must be a string" : "must be a non-empty string";
    }
    out = v.get<std::string>();
    return "";
  };
}

KeyParser bool_key(bool& out) {
  return [&out](const json& v) -> std::string {
    if (!v.is_boolean()) return "must be true or false";
    out = v.get<bool>();
    return "";
  };
}

// A non-negative integer in [min, max].
KeyParser int_key(std::int64_t& out, std::int64_t min, std::int64_t max, std::string unit) {
  return [&out, min, max, unit](const json& v) -> std::string {
    const std::string what = "must be an integer from " + std::to_string(min) + " to " +
                             std::to_string(max) + (unit.empty() ? "" : " (" + unit + ")");
    std::int64_t n = 0;
    if (v.is_number_unsigned()) {
      if (v.get<std::uint64_t>() > static_cast<std::uint64_t>(max)) return what;
      n = static_cast<std::int64_t>(v.get<std::uint64_t>());
    } else if (v.is_number_integer()) {
      n = v.get<std::int64_t>();
    } else {
      return what;
    }
    if (n < min || n > max) return what;
    out = n;
    return "";
  };
}

// A finite number (integer or not) in [min, max], in seconds.
KeyParser seconds_key(double& out, double min, double max) {
  return [&out, min, max](const json& v) -> std::string {
    auto fmt = [](double d) {
      std::string s = std::to_string(d);
      while (s.size() > 1 && s.back() == '0') s.pop_back();
      if (!s.empty() && s.back() == '.') s.pop_back();
      return s;
    };
    const std::string what = "must be a number of seconds from " + fmt(min) + " to " + fmt(max);
    if (!v.is_number()) return what;
    const double d = v.get<double>();
    if (!std::isfinite(d) || d < min || d > max) return what;
    out = d;
    return "";
  };
}

KeyParser string_list_key(std::vector<std::string>& out) {
  return [&out](const json& v) -> std::string {
    if (!v.is_array()) return "must be a list of non-empty strings";
    std::vector<std::string> items;
    for (const auto& item : v) {
      if (!item.is_string() || item.get<std::string>().empty()) {
        return "must be a list of non-empty strings";
      }
      items.push_back(item.get<std::string>());
    }
    out = std::move(items);
    return "";
  };
}

constexpr double kDay = 86400;

}  // namespace

Result<HostPort> parse_host_port(const std::string& address) {
  const Status bad(Code::invalid_argument, "must be host:port (e.g. 127.0.0.1:8443 or [::1]:8443)");
  HostPort hp;
  std::string port;
  if (!address.empty() && address[0] == '[') {
    const auto close = address.find(']');
    if (close == std::string::npos || close + 1 >= address.size() || address[close + 1] != ':') {
      return bad;
    }
    hp.host = address.substr(1, close - 1);
    port = address.substr(close + 2);
    in6_addr a6{};
    if (inet_pton(AF_INET6, hp.host.c_str(), &a6) != 1) return bad;
  } else {
    const auto colon = address.rfind(':');
    if (colon == std::string::npos || colon == 0) return bad;
    hp.host = address.substr(0, colon);
    port = address.substr(colon + 1);
    if (hp.host.find(':') != std::string::npos) return bad;  // bare IPv6 needs brackets
    for (char c : hp.host) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '-';
      if (!ok) return bad;
    }
  }
  if (port.empty() || port.size() > 5) return bad;
  int p = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return bad;
    p = p * 10 + (c - '0');
  }
  if (p > 65535) return bad;
  hp.port = p;
  return hp;
}

bool is_loopback_host(const std::string& host) {
  if (host == "localhost") return true;
  in_addr a4{};
  if (inet_pton(AF_INET, host.c_str(), &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
  in6_addr a6{};
  if (inet_pton(AF_INET6, host.c_str(), &a6) == 1) return IN6_IS_ADDR_LOOPBACK(&a6);
  return false;
}

Status parse_listener_section(const json& v, const std::string& path, Config& c) {
  auto& l = c.listener;
  return parse_keys(
      v, path,
      {{"address",
        [&l](const json& j) -> std::string {
          if (!j.is_string()) return "must be a string host:port";
          auto hp = parse_host_port(j.get<std::string>());
          if (!hp.ok()) return hp.status().message();
          l.address = j.get<std::string>();
          return "";
        }},
       {"tls_cert", string_key(l.tls_cert)},
       {"tls_key", string_key(l.tls_key)},
       {"tls_client_ca", string_key(l.tls_client_ca)},
       {"tls_disable", bool_key(l.tls_disable)},
       {"max_request_bytes", int_key(l.max_request_bytes, 1024, 64 << 20, "bytes")},
       {"read_timeout_s", seconds_key(l.read_timeout_s, 0.1, 3600)},
       {"idle_timeout_s", seconds_key(l.idle_timeout_s, 1, 3600)},
       {"head_timeout_s", seconds_key(l.head_timeout_s, 0.1, 3600)},
       {"request_timeout_s", seconds_key(l.request_timeout_s, 0.1, 3600)},
       {"max_header_bytes", int_key(l.max_header_bytes, 1024, 1 << 20, "bytes")},
       {"max_headers", int_key(l.max_headers, 8, 1000, "header fields")},
       {"max_connections", int_key(l.max_connections, 1, 100000, "connections")},
       {"max_connections_per_peer", int_key(l.max_connections_per_peer, 1, 100000, "connections")}});
}

Status parse_webhook_section(const json& v, const std::string& path, Config& c) {
  auto& w = c.webhook;
  return parse_keys(v, path,
                    {{"secrets_file", string_key(w.secrets_file)},
                     {"tolerance_s", int_key(w.tolerance_s, 1, 86400, "seconds")},
                     {"reviewers", string_list_key(w.reviewers)},
                     {"admins", string_list_key(w.admins)},
                     {"unauthenticated_per_s",
                      int_key(w.unauthenticated_per_s, 0, 100000, "per second; 0: no limit")},
                     {"unauthenticated_burst", int_key(w.unauthenticated_burst, 1, 100000, "")},
                     {"tracked_peers", int_key(w.tracked_peers, 16, 1000000, "addresses")},
                     {"rejection_log_interval_s",
                      seconds_key(w.rejection_log_interval_s, 1, 86400)}});
}

Status parse_api_section(const json& v, const std::string& path, Config& c) {
  return parse_keys(v, path, {{"token_file", string_key(c.api.token_file)},
                              {"metrics_auth", bool_key(c.api.metrics_auth)}});
}

Status parse_log_section(const json& v, const std::string& path, Config& c) {
  auto& lg = c.log;
  return parse_keys(
      v, path,
      {{"level",
        [&lg](const json& j) -> std::string {
          auto level = j.is_string() ? parse_log_level(j.get<std::string>()) : std::nullopt;
          if (!level) return "must be one of debug, info, warn, error";
          lg.level = *level;
          return "";
        }},
       {"format", [&lg](const json& j) -> std::string {
          auto format = j.is_string() ? parse_log_format(j.get<std::string>()) : std::nullopt;
          if (!format) return "must be json or text";
          lg.format = *format;
          return "";
        }}});
}

Status parse_audit_section(const json& v, const std::string& path, Config& c) {
  return parse_keys(v, path, {{"path", string_key(c.audit.path)}});
}

Status parse_evaluate_section(const json& v, const std::string& path, Config& c) {
  auto& e = c.evaluate;
  return parse_keys(v, path,
                    {{"interval_s", seconds_key(e.interval_s, 0, kDay)},
                     {"auto_promote", bool_key(e.auto_promote)}});
}

Status parse_health_section(const json& v, const std::string& path, Config& c) {
  return parse_keys(v, path, {{"outbox_stuck_s", seconds_key(c.health.outbox_stuck_s, 1, 30 * kDay)}});
}

Status parse_retention_section(const json& v, const std::string& path, Config& c) {
  auto& r = c.retention;
  constexpr std::int64_t kMaxDays = 36500;
  return parse_keys(
      v, path,
      {{"interval_s", seconds_key(r.interval_s, 0, kDay)},
       {"batch_rows", int_key(r.batch_rows, 1, 100000, "rows per write transaction")},
       {"drift_days", int_key(r.drift_days, 1, kMaxDays, "days")},
       {"sync_history_days", int_key(r.sync_history_days, 1, kMaxDays, "days")},
       {"sync_history_max_rows", int_key(r.sync_history_max_rows, 1000, 1000000000, "rows")},
       {"webhook_deliveries_days", int_key(r.webhook_deliveries_days, 1, kMaxDays, "days")},
       {"sender_retry_horizon_s", int_key(r.sender_retry_horizon_s, 0, 365 * 86400, "seconds")},
       {"denials_days", int_key(r.denials_days, 1, kMaxDays, "days")},
       {"demotions_days", int_key(r.demotions_days, 1, kMaxDays, "days")},
       {"revocation_steps_days", int_key(r.revocation_steps_days, 1, kMaxDays, "days")},
       {"outbox_days", int_key(r.outbox_days, 1, kMaxDays, "days")}});
}

Status validate_retention(const Config& c) {
  const std::int64_t needed = c.webhook.tolerance_s + c.retention.sender_retry_horizon_s;
  if (c.retention.webhook_deliveries_days * 86400 < needed) {
    return invalid("retention.webhook_deliveries_days",
                   "must cover webhook.tolerance_s + retention.sender_retry_horizon_s (" +
                       std::to_string(needed) + " s): a redelivered webhook must find its "
                       "stored answer");
  }
  return Status::success();
}

Status parse_shutdown_section(const json& v, const std::string& path, Config& c) {
  return parse_keys(v, path, {{"grace_s", seconds_key(c.shutdown.grace_s, 0, 3600)}});
}

Status validate_serve_config(const Config& c) {
  if (Status r = validate_retention(c); !r.ok()) return r;
  const auto& l = c.listener;
  auto hp = parse_host_port(l.address);
  if (!hp.ok()) return invalid("listener.address", hp.status().message());
  if (l.head_timeout_s > l.request_timeout_s) {
    return invalid("listener.head_timeout_s", "must not exceed listener.request_timeout_s (" +
                                                  std::to_string(l.request_timeout_s) + ")");
  }
  if (l.max_connections_per_peer > l.max_connections) {
    return invalid("listener.max_connections_per_peer",
                   "must not exceed listener.max_connections (" +
                       std::to_string(l.max_connections) + ")");
  }
  if (l.tls_disable) {
    if (!is_loopback_host(hp->host)) {
      return invalid("listener.tls_disable",
                     "plain HTTP is allowed only on a loopback address (127.0.0.1, ::1, "
                     "localhost), not " + hp->host);
    }
  } else {
    if (l.tls_cert.empty()) {
      return invalid("listener.tls_cert",
                     "required (a PEM certificate), unless listener.tls_disable is true on a "
                     "loopback address");
    }
    if (l.tls_key.empty()) return invalid("listener.tls_key", "required (the certificate's key)");
  }
  return Status::success();
}

}  // namespace ps::sidecar
