// What a SIGHUP may change while requests are in flight: rules, the webhook's secrets and
// approver lists, the operator API token. The tier-change service reads rules and approver
// lists from it; the webhook and the operator API read secrets and the token. Readers take a snapshot (shared_ptr) per request,
// so a reload never changes the rules half-way through a decision.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/base/mutex.h"
#include "engine/rules/rules.h"
#include "engine/base/status.h"
#include "sidecar/config/revocation_config.h"
#include "sidecar/config/secret_files.h"

namespace ps::sidecar {

struct Config;

struct ServeSettings {
  std::shared_ptr<const engine::Rules> rules;
  std::vector<WebhookSecret> webhook_secrets;  // empty: the webhook is disabled
  std::int64_t tolerance_s = 300;
  std::vector<std::string> reviewers;
  std::vector<std::string> admins;
  std::string api_token;  // empty: the operator API is disabled. Never logged.
  RevocationConfig revocation;  // violation rules, Vault-side steps
};

// Builds the settings from a parsed config, reading the secret files (refused when too open).
Result<std::shared_ptr<const ServeSettings>> load_serve_settings(const Config& config);

class SettingsStore {
 public:
  explicit SettingsStore(std::shared_ptr<const ServeSettings> s) : current_(std::move(s)) {}
  std::shared_ptr<const ServeSettings> get() const {
    ps::MutexLock lock(mu_);
    return current_;
  }
  void set(std::shared_ptr<const ServeSettings> s) {
    ps::MutexLock lock(mu_);
    current_ = std::move(s);
  }

 private:
  mutable ps::Mutex mu_;
  std::shared_ptr<const ServeSettings> current_ GUARDED_BY(mu_);
};

}  // namespace ps::sidecar
