// The approval webhook (POST /v1/webhooks/approval), independent of the HTTP server: verify,
// parse, dedupe and replay by webhook id, hand the decision to the tier-change service, answer.
//
// Order of checks (each refusal is answered {"errors": [...]}, counted in
// policy_sidecar_webhook_rejections_total{reason}, and changes nothing in the ledger):
//   --- before authentication (the sender is unknown): sampled in the log (the first per peer
//       per interval, with a count of the rest), never audited, and each spends a token of the
//       peer's budget (UnauthenticatedGuard, sidecar/server/webhook_guard.h) ---
//   429 + Retry-After: the peer's budget for unauthenticated requests is spent
//   404 webhook disabled (no secrets configured)
//   401 missing headers / bad or stale or future timestamp / no valid signature
//   --- authenticated (a configured secret signed it): every refusal below is audited ---
//   415 Content-Type is not application/json
//   400 not a JSON object / missing or wrong-typed field / target_tier outside 1..4
//   --- the id is looked up: a stored delivery is answered again as it was (same status and
//       body; 409 if the same id comes with a different body) ---
//   403 the approver is not in webhook.reviewers (manual-review tiers) or webhook.admins
//       (admin-approval tiers; an admin may also approve review tiers)
//   409 the agent is not at target_tier - 1, or its evaluation (made inside the write
//       transaction) is neither ELIGIBLE nor PENDING_REVIEW
//   503 + Retry-After: the ledger cannot be opened, is locked past the busy timeout, or fails
//
// The decision itself (authorization, the promotion or denial and its delivery record in one
// transaction, the sync worker's wake-up) is the tier-change service's
// (sidecar/sync/tier_change_service.h); this class keeps the HTTP delivery concerns. The 200
// answer is sent after COMMIT and after the audit record is durable, never after the Vault
// push:
//   approval: {"data": {"promotion_id", "agent_id", "from_tier", "to_tier", "sync_state"}}
//   denial:   {"data": {"denial_id", "agent_id", "tier", "target_tier", "denied_by"}}
//
// Thread-safe: handle() runs concurrently on the listener's threads.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "engine/base/clock.h"
#include "engine/ledger/webhook_deliveries.h"
#include "sidecar/config/log.h"
#include "sidecar/config/settings.h"
#include "sidecar/server/audit.h"
#include "sidecar/server/serve_metrics.h"
#include "sidecar/server/webhook_guard.h"
#include "sidecar/sync/ledger_pool.h"
#include "sidecar/sync/tier_change_service.h"

namespace ps::sidecar::server {

struct WebhookHttpRequest {
  std::string_view id;            // webhook-id header ("" when absent)
  std::string_view timestamp;     // webhook-timestamp
  std::string_view signature;     // webhook-signature
  std::string_view content_type;  // Content-Type
  std::string_view body;          // raw bytes
  std::string_view peer = {};     // the client's IP address as text ("" when unknown)
};

struct HttpAnswer {
  int status = 200;
  std::string body;                  // JSON
  std::optional<int> retry_after_s;  // 503
  bool replayed = false;             // the stored answer to an earlier delivery of the same id
};

// {"errors": [message]}
std::string errors_body(std::string_view message);

// The body checks behind handle()'s 400 answers, before any ledger access: "" when the body is
// a valid approval or denial (fields filled in), else the 400 message. Public for the tests and
// the fuzz target (tests/fuzz/sidecar/server/webhook_fuzz.cpp).
std::string parse_approval_body(std::string_view body, std::string& type, std::string& agent_id,
                                std::int64_t& target_tier, std::string& approver,
                                std::optional<std::string>& rationale,
                                std::optional<std::string>& review_id);

struct WebhookDeps {
  LedgerPool& ledgers;            // stored deliveries (dedupe and replay)
  const SettingsStore& settings;  // secrets and tolerance in effect
  TierChangeService& tier_changes;
  Clock& clock;
  Logger& log;
  AuditLog* audit = nullptr;        // authenticated rejections are audited; may be null (tests)
  ServeMetrics* metrics = nullptr;  // rejection counts; may be null (tests)
  // Per-peer budget and log sampling for unauthenticated requests; null: no limit, every
  // unauthenticated rejection logged (tests).
  UnauthenticatedGuard* guard = nullptr;
};

class ApprovalWebhook {
 public:
  explicit ApprovalWebhook(WebhookDeps deps) : d_(std::move(deps)) {}

  HttpAnswer handle(const WebhookHttpRequest& request);

 private:
  struct Parsed;
  HttpAnswer reject(int status, std::string_view reason_code, const std::string& message,
                    std::string_view webhook_id, std::optional<int> retry_after = {});
  HttpAnswer reject_unauthenticated(int status, std::string_view reason_code,
                                    const std::string& message, const WebhookHttpRequest& r,
                                    std::optional<int> retry_after = {});
  HttpAnswer replay(const engine::WebhookDelivery& stored, const std::string& body_sha256);
  HttpAnswer decide(const Parsed& p);
  HttpAnswer refused(const Parsed& p, const Status& status);
  // After a refused or rolled-back decision: the delivery a concurrent duplicate committed.
  std::optional<HttpAnswer> replay_if_stored(const Parsed& p);
  HttpAnswer ledger_unavailable(const Status& s, std::string_view webhook_id);

  WebhookDeps d_;
};

}  // namespace ps::sidecar::server
