#include "vault/emulator/request_log.h"

#include <cerrno>
#include <cstring>

#include <nlohmann/json.hpp>

#include "engine/base/mutex.h"
#include "vault/emulator/util.h"

namespace ps::vault::emulator {

RequestLog::~RequestLog() {
  if (file_ != nullptr) std::fclose(file_);
}

Status RequestLog::open(const std::string& path) {
  ps::MutexLock lock(mu_);
  file_ = std::fopen(path.c_str(), "a");
  if (file_ == nullptr) {
    int err = errno;
    return io_error(err, "cannot open request log " + path);
  }
  return Status::success();
}

std::string RequestLog::redact_query(const std::string& query) {
  if (query.empty()) return query;
  std::vector<std::string> parts;
  for (auto& pair : split(query, '&')) {
    auto eq = pair.find('=');
    std::string key = to_lower(pair.substr(0, eq));
    bool secret = key.find("token") != std::string::npos || key.find("secret") != std::string::npos ||
                  key.find("password") != std::string::npos || key == "role_id";
    if (secret && eq != std::string::npos) pair = pair.substr(0, eq + 1) + "redacted";
    parts.push_back(pair);
  }
  return join(parts, "&");
}

std::string RequestLog::redact_path(const std::string& path) {
  for (const char* prefix : {"/v1/auth/token/lookup/", "/v1/auth/token/revoke/",
                             "/v1/auth/token/revoke-orphan/", "/v1/auth/token/renew/"}) {
    if (starts_with(path, prefix) && path.size() > std::strlen(prefix)) {
      return std::string(prefix) + "redacted";
    }
  }
  return path;
}

void RequestLog::write(const std::string& method, const std::string& path,
                       const std::string& query, int status) {
  nlohmann::ordered_json line = {{"ts", rfc3339_millis(clock_.wall_now())},
                         {"method", method},
                         {"path", redact_path(path)},
                         {"query", redact_query(query)},
                         {"status", status}};
  std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  ps::MutexLock lock(mu_);
  if (file_ == nullptr) return;
  std::fwrite(text.data(), 1, text.size(), file_);
  std::fflush(file_);
}

}  // namespace ps::vault::emulator
