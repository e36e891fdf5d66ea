// Structured logs: one event per decision and per failure, JSON lines (default) or text, to
// an injected sink (stderr in the executable, a string in tests).
//
// Contract: callers never pass secrets (tokens, secret ids, webhook secrets, request bodies
// that carry them) in a message or a field; the logger does not try to guess what is secret.
// Thread-safe: lines from several threads never interleave; level and format can change at
// runtime (SIGHUP).
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "engine/base/log_level.h"
#include "engine/base/clock.h"

namespace ps::sidecar {

enum class LogFormat { json, text };

// Parses "debug" | "info" | "warn" | "error" (and "warning"); nullopt otherwise.
std::optional<LogLevel> parse_log_level(std::string_view text);
const char* log_level_name(LogLevel level);
// Parses "json" | "text"; nullopt otherwise.
std::optional<LogFormat> parse_log_format(std::string_view text);

class Logger {
 public:
  // Receives one complete line, without the trailing newline.
  using Sink = std::function<void(std::string_view line)>;

  Logger(Sink sink, const Clock& clock, LogLevel min_level = LogLevel::info,
         LogFormat format = LogFormat::json);

  // A logger writing to stderr (unbuffered writes, one line at a time).
  static Sink stderr_sink();

  void set_level(LogLevel level) { min_level_.store(level); }
  void set_format(LogFormat format) { format_.store(format); }
  bool enabled(LogLevel level) const { return level >= min_level_.load(); }

  // `event` is a stable dotted name ("sync.parked"); `fields` must be a JSON object (or null).
  void log(LogLevel level, std::string_view event, std::string_view message,
           const nlohmann::json& fields = nullptr);
  void debug(std::string_view event, std::string_view message, const nlohmann::json& fields = nullptr) {
    log(LogLevel::debug, event, message, fields);
  }
  void info(std::string_view event, std::string_view message, const nlohmann::json& fields = nullptr) {
    log(LogLevel::info, event, message, fields);
  }
  void warn(std::string_view event, std::string_view message, const nlohmann::json& fields = nullptr) {
    log(LogLevel::warn, event, message, fields);
  }
  void error(std::string_view event, std::string_view message, const nlohmann::json& fields = nullptr) {
    log(LogLevel::error, event, message, fields);
  }

  // Adapter for modules that log through ps::LogFn (tls/, vault/): events named `component`.
  LogFn as_log_fn(std::string component);

 private:
  Sink sink_;
  const Clock& clock_;
  std::atomic<LogLevel> min_level_;
  std::atomic<LogFormat> format_;
  std::mutex write_mu_;  // serialises sink_ calls
};

}  // namespace ps::sidecar
