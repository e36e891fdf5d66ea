#include "sidecar/config/log.h"

#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <chrono>
#include <ctime>

namespace ps::sidecar {
namespace {

// RFC 3339 UTC with milliseconds: 2026-11-25T10:15:30.123Z
std::string format_ts(Clock::WallTime t) {
  using namespace std::chrono;
  const auto ms = duration_cast<milliseconds>(t.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
  const int millis = static_cast<int>(ms - static_cast<long long>(secs) * 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
  return buf;
}

// Text-format value: strings bare unless they contain spaces, quotes or '=' (then JSON-quoted).
std::string text_value(const nlohmann::json& v) {
  if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    bool plain = !s.empty();
    for (char c : s) {
      if (c == ' ' || c == '"' || c == '=' || static_cast<unsigned char>(c) < 0x20) plain = false;
    }
    return plain ? s : v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  return v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

std::optional<LogLevel> parse_log_level(std::string_view text) {
  if (text == "debug") return LogLevel::debug;
  if (text == "info") return LogLevel::info;
  if (text == "warn" || text == "warning") return LogLevel::warn;
  if (text == "error") return LogLevel::error;
  return std::nullopt;
}

const char* log_level_name(LogLevel level) {
  switch (level) {
    case LogLevel::debug: return "debug";
    case LogLevel::info: return "info";
    case LogLevel::warn: return "warn";
    case LogLevel::error: return "error";
  }
  return "info";
}

std::optional<LogFormat> parse_log_format(std::string_view text) {
  if (text == "json") return LogFormat::json;
  if (text == "text") return LogFormat::text;
  return std::nullopt;
}

Logger::Logger(Sink sink, const Clock& clock, LogLevel min_level, LogFormat format)
    : sink_(std::move(sink)), clock_(clock), min_level_(min_level), format_(format) {}

Logger::Sink Logger::stderr_sink() {
  return [](std::string_view line) {
    std::string buf(line);
    buf.push_back('\n');
    const char* p = buf.data();
    size_t left = buf.size();
    while (left > 0) {
      ssize_t n = ::write(STDERR_FILENO, p, left);
      if (n < 0) {
        if (errno == EINTR) continue;
        return;  // nowhere left to report a failing stderr
      }
      p += n;
      left -= static_cast<size_t>(n);
    }
  };
}

void Logger::log(LogLevel level, std::string_view event, std::string_view message,
                 const nlohmann::json& fields) {
  if (!enabled(level)) return;
  const std::string ts = format_ts(clock_.wall_now());
  std::string line;
  if (format_.load() == LogFormat::json) {
    nlohmann::ordered_json j;
    j["ts"] = ts;
    j["level"] = log_level_name(level);
    j["event"] = std::string(event);
    j["msg"] = std::string(message);
    if (fields.is_object()) {
      for (auto it = fields.begin(); it != fields.end(); ++it) {
        if (it.key() == "ts" || it.key() == "level" || it.key() == "event" || it.key() == "msg") {
          j["field." + it.key()] = it.value();
        } else {
          j[it.key()] = it.value();
        }
      }
    }
    line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } else {
    std::string lvl = log_level_name(level);
    for (auto& c : lvl) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    line = ts + " " + lvl + " " + std::string(event) + ": " + std::string(message);
    if (fields.is_object()) {
      for (auto it = fields.begin(); it != fields.end(); ++it) {
        line += " " + it.key() + "=" + text_value(it.value());
      }
    }
    // Keep one event per line even when a message carries a newline.
    for (auto& c : line) {
      if (c == '\n' || c == '\r') c = ' ';
    }
  }
  std::lock_guard<std::mutex> lock(write_mu_);
  sink_(line);
}

LogFn Logger::as_log_fn(std::string component) {
  return [this, component = std::move(component)](LogLevel level, std::string_view message) {
    log(level, component, message);
  };
}

}  // namespace ps::sidecar
