#include "sidecar/server/health.h"

#include "engine/base/mutex.h"
#include "sidecar/server/operator_api.h"

#include <nlohmann/json.hpp>

namespace ps::sidecar::server {

const char* to_string(HealthStatus s) {
  switch (s) {
    case HealthStatus::ok: return "ok";
    case HealthStatus::degraded: return "degraded";
    case HealthStatus::failed: return "failed";
  }
  return "failed";
}

std::string HealthReport::json(const std::string& version, bool detailed) const {
  nlohmann::ordered_json j;
  j["status"] = to_string(status);
  nlohmann::ordered_json checks_json = nlohmann::ordered_json::object();
  for (const auto& [name, c] : checks) {
    checks_json[name] = detailed ? nlohmann::ordered_json{{"status", to_string(c.status)},
                                                          {"reason", c.reason}}
                                 : nlohmann::ordered_json{{"status", to_string(c.status)}};
  }
  j["checks"] = checks_json;
  if (detailed) j["version"] = version;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

int HealthReport::http_status(const HealthCodes& codes) const {
  switch (status) {
    case HealthStatus::ok: return codes.ok;
    case HealthStatus::degraded: return codes.degraded;
    case HealthStatus::failed: return codes.failed;
  }
  return codes.failed;
}

Result<HealthCodes> health_codes(const std::multimap<std::string, std::string>& params) {
  HealthCodes codes;
  for (const auto& [key, value] : params) {
    int* target = key == "okcode" ? &codes.ok : key == "degradedcode" ? &codes.degraded
                : key == "failedcode" ? &codes.failed : nullptr;
    if (!target) continue;
    int v = 0;
    bool digits = !value.empty() && value.size() <= 3;
    for (char c : value) {
      digits = digits && c >= '0' && c <= '9';
      if (digits) v = v * 10 + (c - '0');
    }
    if (!digits || v < 200 || v > 599) {
      return Status(Code::invalid_argument, key + " must be an HTTP status from 200 to 599");
    }
    *target = v;
  }
  return codes;
}

HealthChecker::HealthChecker(HealthProbes probes, const Clock& clock,
                             std::chrono::milliseconds outbox_stuck,
                             std::chrono::milliseconds slow_probe)
    : probes_(std::move(probes)), clock_(clock), outbox_stuck_(outbox_stuck), slow_probe_(slow_probe) {}

void HealthChecker::probe_vault() {
  if (!probes_.vault_health) return;
  {
    ps::MutexLock lock(mu_);
    probe_started_ = clock_.steady_now();
  }
  auto result = probes_.vault_health();
  ps::MutexLock lock(mu_);
  last_vault_ = std::move(result);
  probe_started_.reset();
}

CheckResult HealthChecker::vault_check(const std::optional<vault::Result<vault::Health>>& last) {
  using vault::HealthState;
  if (!last) return {HealthStatus::degraded, "not probed yet"};
  if (!last->ok()) {
    return {HealthStatus::degraded, "unreachable: " + last->error().describe() +
                                        " (pushes wait in the outbox)"};
  }
  const vault::Health& h = last->value();
  switch (h.state) {
    case HealthState::active: return {HealthStatus::ok, "active, unsealed"};
    case HealthState::standby:
    case HealthState::performance_standby:
      return {HealthStatus::ok, "unsealed " + std::string(vault::to_string(h.state))};
    case HealthState::sealed:
      return {HealthStatus::degraded, "sealed (pushes wait in the outbox)"};
    default:
      return {HealthStatus::degraded,
              "not usable: " + std::string(vault::to_string(h.state)) + " (HTTP " +
                  std::to_string(h.http_status) + ")"};
  }
}

CheckResult HealthChecker::token_check(const vault::TokenStatus& t) {
  if (!t.has_token) {
    std::string why = t.last_error ? t.last_error->describe() : "not obtained yet";
    return {HealthStatus::degraded, "no token: " + why};
  }
  if (!t.valid) {
    std::string why = t.last_error ? ": " + t.last_error->describe() : "";
    return {HealthStatus::degraded, "token rejected or expired" + why};
  }
  if (t.ttl_known && t.expires) {
    return {HealthStatus::ok, "valid, " + std::to_string(t.ttl.count()) + "s left"};
  }
  return {HealthStatus::ok, t.ttl_known ? "valid, does not expire" : "valid"};
}

CheckResult HealthChecker::outbox_check(const Result<engine::OutboxStats>& stats,
                                        Clock::WallTime now, std::chrono::milliseconds stuck) {
  if (!stats.ok()) return {HealthStatus::degraded, "cannot read the outbox: " + stats.status().message()};
  const engine::OutboxStats& s = *stats;
  if (s.oldest_pending_since) {
    const auto age = std::chrono::duration_cast<std::chrono::seconds>(now - *s.oldest_pending_since);
    if (age > stuck) {
      return {HealthStatus::degraded,
              "stuck: the oldest pending change is " + std::to_string(age.count()) +
                  "s old (health.outbox_stuck_s = " +
                  std::to_string(std::chrono::duration_cast<std::chrono::seconds>(stuck).count()) +
                  "); " + std::to_string(s.pending) + " pending"};
    }
  }
  if (s.failed > 0) {
    return {HealthStatus::degraded, std::to_string(s.failed) +
                                        " parked push(es) need attention (policy-sidecar status)"};
  }
  return {HealthStatus::ok, std::to_string(s.pending) + " pending, " + std::to_string(s.synced) +
                                " synced"};
}

HealthStatus HealthChecker::overall(const std::vector<std::pair<std::string, CheckResult>>& checks) {
  HealthStatus worst = HealthStatus::ok;
  for (const auto& [name, c] : checks) {
    if (c.status == HealthStatus::failed) return HealthStatus::failed;
    if (c.status == HealthStatus::degraded) worst = HealthStatus::degraded;
  }
  return worst;
}

HealthReport HealthChecker::check() {
  std::optional<HealthReport> cached;
  {
    ps::MutexLock lock(mu_);
    cached = cached_;
  }
  if (!cached) return refresh();
  // The Vault entry is recomputed (no I/O): a probe hanging since the last refresh shows.
  for (auto& [name, c] : cached->checks) {
    if (name == "vault") c = vault_now();
  }
  cached->status = overall(cached->checks);
  return *cached;
}

CheckResult HealthChecker::vault_now() {
  std::optional<vault::Result<vault::Health>> last;
  std::optional<Clock::SteadyTime> started;
  {
    ps::MutexLock lock(mu_);
    last = last_vault_;
    started = probe_started_;
  }
  const auto waiting = started ? clock_.steady_now() - *started : Clock::SteadyTime::duration{};
  if (!started || waiting <= slow_probe_) return vault_check(last);
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(waiting).count();
  return {HealthStatus::degraded, "not answering: the health probe has waited " +
                                      std::to_string(secs) + "s (pushes wait in the outbox)"};
}

HealthReport HealthChecker::refresh() {
  HealthReport r = evaluate();
  ps::MutexLock lock(mu_);
  cached_ = r;
  return r;
}

HealthReport HealthChecker::evaluate() {
  HealthReport r;
  const CheckResult ledger = probes_.ledger();
  r.checks.emplace_back("ledger", ledger);
  if (probes_.vault_health) r.checks.emplace_back("vault", vault_now());
  if (probes_.token) r.checks.emplace_back("token", token_check(probes_.token()));
  if (probes_.freeze && ledger.status != HealthStatus::failed) {
    r.checks.emplace_back("freeze", probes_.freeze());
  }
  if (probes_.privilege) r.checks.emplace_back("privilege", probes_.privilege());
  if (probes_.outbox) {
    // An unreadable ledger already fails the check; do not repeat its error as the outbox's.
    if (ledger.status == HealthStatus::failed) {
      r.checks.emplace_back("outbox", CheckResult{HealthStatus::failed, "ledger unavailable"});
    } else {
      r.checks.emplace_back("outbox", outbox_check(probes_.outbox(), clock_.wall_now(), outbox_stuck_));
    }
  }
  r.status = overall(r.checks);
  return r;
}

HttpAnswer health_answer(HealthChecker& health, const ApiRequest& request, OperatorApi* api,
                         const std::string& version) {
  auto codes = health_codes(request.params);
  if (!codes.ok()) return {400, errors_body(codes.status().message()), {}, false};
  const HealthReport report = health.check();
  const bool detailed = api && !request.authorization.empty() && !api->authorize(request);
  return {report.http_status(*codes), report.json(version, detailed), {}, false};
}

}  // namespace ps::sidecar::server
