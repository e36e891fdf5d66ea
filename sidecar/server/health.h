// GET /v1/sys/health: can the daemon do its job, and if not, why.
//
// Checks and how they count:
//   ledger  readable and migrated to this build's schema     failing -> failed  (503)
//   vault   reachable and unsealed (last background probe)   failing -> degraded
//   token   the sidecar's own Vault token is held and valid  failing -> degraded
//   outbox  the oldest pending change is younger than health.outbox_stuck_s, and no push is
//           parked (failed rows need a person)                failing -> degraded
// `degraded` still does its job (approvals commit; pushes queue until Vault is back) and is
// answered 200, like `ok`; `failed` (nothing can be recorded) is answered 503. Checks that do
// not apply (no Vault configured) are left out.
//
// The Vault check reads the result of probe_vault(), which the daemon calls in the background,
// so a hung Vault never makes a health request hang. Thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "engine/base/mutex.h"
#include "engine/ledger/outbox.h"
#include "engine/base/status.h"
#include "vault/auth.h"
#include "engine/base/clock.h"
#include "vault/types.h"

namespace ps::sidecar::server {

enum class HealthStatus { ok, degraded, failed };
const char* to_string(HealthStatus s);

struct CheckResult {
  HealthStatus status = HealthStatus::ok;
  std::string reason;
};

// The HTTP status answered for each state (Vault-style query parameters okcode=,
// degradedcode=, failedcode= override them, so a load balancer tells states apart without
// parsing the body).
struct HealthCodes {
  int ok = 200;
  int degraded = 200;  // still doing its job
  int failed = 503;
};
// The codes from the query parameters; invalid_argument for a value outside 200..599.
Result<HealthCodes> health_codes(const std::multimap<std::string, std::string>& params);

struct HealthReport {
  HealthStatus status = HealthStatus::ok;
  std::vector<std::pair<std::string, CheckResult>> checks;  // in check order
  int http_status(const HealthCodes& codes = {}) const;
  // Unauthenticated: {"status", "checks": {name: {"status"}}} - no reasons (they can carry
  // paths and errors), no version. Detailed (the API's bearer token): with "reason" per check
  // and "version".
  std::string json(const std::string& version, bool detailed) const;
};

struct HealthProbes {
  std::function<CheckResult()> ledger;  // required
  // Empty when the daemon runs without Vault.
  std::function<vault::Result<vault::Health>()> vault_health;
  std::function<vault::TokenStatus()> token;
  std::function<Result<engine::OutboxStats>()> outbox;
  // The kill switch: degraded while frozen (every agent held at tier 0). Empty: not checked.
  std::function<CheckResult()> freeze;
  // Roles granting more than the ledger justifies (last reconcile): degraded while any remain.
  std::function<CheckResult()> privilege;
};

class HealthChecker {
 public:
  // A probe still waiting for Vault after `slow_probe` makes the vault check degraded ("not
  // answering") even though its last answer was fine.
  HealthChecker(HealthProbes probes, const Clock& clock, std::chrono::milliseconds outbox_stuck,
                std::chrono::milliseconds slow_probe = std::chrono::seconds(5));

  // Asks Vault now (may take up to the client's timeout) and keeps the answer for check().
  void probe_vault();
  // Runs every probe now and keeps the report (the background prober calls it every few
  // seconds): check() answers from it, so a request never runs a ledger query.
  HealthReport refresh();
  // The last refreshed report (runs refresh() once if there is none yet).
  HealthReport check();

  // The mapping, exposed for tests.
  static CheckResult vault_check(const std::optional<vault::Result<vault::Health>>& last);
  static CheckResult token_check(const vault::TokenStatus& token);
  static CheckResult outbox_check(const Result<engine::OutboxStats>& stats,
                                  Clock::WallTime now, std::chrono::milliseconds stuck);
  static HealthStatus overall(const std::vector<std::pair<std::string, CheckResult>>& checks);

 private:
  HealthReport evaluate();
  CheckResult vault_now();  // from the last probe, or "not answering" while one hangs
  HealthProbes probes_;
  const Clock& clock_;
  const std::chrono::milliseconds outbox_stuck_;
  const std::chrono::milliseconds slow_probe_;
  ps::Mutex mu_;
  std::optional<vault::Result<vault::Health>> last_vault_ GUARDED_BY(mu_);
  std::optional<Clock::SteadyTime> probe_started_ GUARDED_BY(mu_);  // set while probing
  std::optional<HealthReport> cached_ GUARDED_BY(mu_);
};

class OperatorApi;
struct ApiRequest;
struct HttpAnswer;

// GET /v1/sys/health: the cached report; details only with the API's bearer token (`api` may
// be null: never detailed); 400 for bad *code parameters.
HttpAnswer health_answer(HealthChecker& health, const ApiRequest& request, OperatorApi* api,
                         const std::string& version);

}  // namespace ps::sidecar::server
