// The JSON-lines request log (--request-log): one line per request, admin ones included,
//   {"ts":"2026-01-02T03:04:05.678Z","method":"GET","path":"/v1/...","query":"...","status":200}
// It never holds a token, secret ID or body: only method, the path as sent, the query string
// with the values of credential-like parameters replaced by "redacted", and the status.
// Status 0 marks a connection dropped by an injected fault. Thread-safe.
#pragma once

#include <cstdio>
#include <mutex>
#include <string>

#include "engine/base/clock.h"
#include "engine/base/mutex.h"
#include "engine/base/status.h"

namespace ps::vault::emulator {

class RequestLog {
 public:
  explicit RequestLog(Clock& clock) : clock_(clock) {}
  ~RequestLog();
  RequestLog(const RequestLog&) = delete;
  RequestLog& operator=(const RequestLog&) = delete;

  // Opens `path` for appending (the errno-derived code and reason on failure).
  ps::Status open(const std::string& path);
  void write(const std::string& method, const std::string& path, const std::string& query,
             int status);

  // The query string with credential-like values redacted (exposed for tests).
  static std::string redact_query(const std::string& query);
  // The path with token values that Vault accepts in URLs (auth/token/lookup/<token>, ...)
  // replaced by "redacted".
  static std::string redact_path(const std::string& path);

 private:
  Clock& clock_;
  ps::Mutex mu_;
  std::FILE* file_ GUARDED_BY(mu_) = nullptr;
};

}  // namespace ps::vault::emulator
