// Reading one config value with a message that names its key path and what it must be
// (`config: sync.batch_size: must be an integer from 1 to 10000`). Internal to sidecar/config.
#pragma once

#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/base/status.h"
#include "engine/rules/rules_config.h"  // config_key_path

namespace ps::sidecar::config_read {

using json = nlohmann::ordered_json;


inline Status invalid(const std::string& path, const std::string& what) {
  return {Code::invalid_argument, "config: " + path + ": " + what};
}

inline Status unknown(const std::string& path, const char* known) {
  return invalid(path, std::string("unknown key (known: ") + known + ")");
}

inline std::string key_path(const std::string& parent, const std::string& key) {
  return engine::config_key_path(parent, key);
}

inline Status require_object(const json& v, const std::string& path) {
  return v.is_object() ? Status::success() : invalid(path, "must be an object");
}

inline Status read_string(const json& v, const std::string& path, std::string& out,
                   bool allow_empty = true) {
  if (!v.is_string()) return invalid(path, "must be a string");
  if (!allow_empty && v.get<std::string>().empty()) return invalid(path, "must not be empty");
  out = v.get<std::string>();
  return Status::success();
}

inline Status read_bool(const json& v, const std::string& path, bool& out) {
  if (!v.is_boolean()) return invalid(path, "must be true or false");
  out = v.get<bool>();
  return Status::success();
}

// A finite number >= min (and <= max).
inline Status read_number(const json& v, const std::string& path, double& out, double min,
                   double max = std::numeric_limits<double>::max()) {
  if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < min ||
      v.get<double>() > max) {
    return invalid(path, "must be a number from " + json(min).dump() +
                             (max < std::numeric_limits<double>::max() ? " to " + json(max).dump()
                                                                       : " up"));
  }
  out = v.get<double>();
  return Status::success();
}

inline Status read_int(const json& v, const std::string& path, std::int64_t& out, std::int64_t min,
                std::int64_t max = std::numeric_limits<std::int32_t>::max()) {
  if (!v.is_number_integer() || (v.is_number_unsigned() &&
                                  v.get<std::uint64_t>() > static_cast<std::uint64_t>(max)) ||
      v.get<std::int64_t>() < min || v.get<std::int64_t>() > max) {
    return invalid(path, "must be an integer from " + std::to_string(min) + " to " +
                             std::to_string(max));
  }
  out = v.get<std::int64_t>();
  return Status::success();
}

inline Status read_ms(const json& v, const std::string& path, std::chrono::milliseconds& out,
               std::int64_t min_ms) {
  std::int64_t ms = 0;
  if (Status s = read_int(v, path, ms, min_ms); !s.ok()) return s;
  out = std::chrono::milliseconds(ms);
  return Status::success();
}

inline Status read_seconds(const json& v, const std::string& path, std::chrono::milliseconds& out,
                    double min_s) {
  double s = 0;
  if (Status st = read_number(v, path, s, min_s, 1e7); !st.ok()) return st;
  out = std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(s * 1000.0)));
  return Status::success();
}

}  // namespace ps::sidecar::config_read
