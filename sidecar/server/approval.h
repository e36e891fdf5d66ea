// The approval webhook's decision logic, independent of HTTP: verify, parse, dedupe,
// authorize, decide, record, answer.
//
// Order of checks (each refusal is answered {"errors": [...]}, audited with its reason, and
// changes nothing in the ledger):
//   404 webhook disabled (no secrets configured)
//   401 missing headers / bad or stale or future timestamp / no valid signature
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
// An approval is a promotion (Ledger::promote_batch through the PromotionCommitter: concurrent
// approvals share one commit) with approved_by = approver, expected_from_tier =
// target_tier - 1 and a hook that writes the outbox row (sync) and the delivery row in the
// same transaction. A denial is ApprovalStore::deny(). The 200 answer is sent after COMMIT
// and after the audit record is durable, never after the Vault push:
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

#include "engine/ledger.h"
#include "sidecar/log.h"
#include "sidecar/server/audit.h"
#include "sidecar/server/group_commit.h"
#include "sidecar/server/ledger_pool.h"
#include "sidecar/server/serve_metrics.h"
#include "sidecar/server/settings.h"
#include "vault/clock.h"

namespace ps::sidecar::server {

struct WebhookHttpRequest {
  std::string_view id;            // webhook-id header ("" when absent)
  std::string_view timestamp;     // webhook-timestamp
  std::string_view signature;     // webhook-signature
  std::string_view content_type;  // Content-Type
  std::string_view body;          // raw bytes
};

struct HttpAnswer {
  int status = 200;
  std::string body;                  // JSON
  std::optional<int> retry_after_s;  // 503
  bool replayed = false;             // the stored answer to an earlier delivery of the same id
};

// {"errors": [message]}
std::string errors_body(std::string_view message);

struct ApprovalDeps {
  LedgerPool& ledgers;
  const SettingsStore& settings;
  // Writes the Vault desired state into the outbox inside the promotion's transaction
  // (sidecar/sync). Empty when the daemon runs without Vault sync.
  engine::TierChangeHook outbox_hook;
  std::string sync_state_on_commit = "pending";  // what "sync_state" says after the commit
  Clock& clock;
  Logger& log;
  AuditLog* audit = nullptr;      // may be null (tests)
  ServeMetrics* metrics = nullptr;  // may be null (tests)
  // Called after a promotion committed (wakes the sync worker). May be empty.
  std::function<void()> on_committed = {};
};

class ApprovalProcessor {
 public:
  explicit ApprovalProcessor(ApprovalDeps deps);

  HttpAnswer handle(const WebhookHttpRequest& request);

  // The periodic evaluation's auto-promotion: the same promote + outbox path with
  // approved_by = "policy-sidecar:auto", only if the agent is still at `from_tier`. Audited
  // and counted like a webhook approval.
  engine::Result<engine::PromotionRecord> promote_automatically(const std::string& agent_id,
                                                                std::int64_t from_tier);

  static constexpr const char* kAutoApprover = "policy-sidecar:auto";

 private:
  struct Parsed;
  HttpAnswer reject(int status, std::string_view reason_code, const std::string& message,
                    std::string_view webhook_id, std::optional<int> retry_after = {});
  HttpAnswer replay(const engine::WebhookDelivery& stored, const std::string& body_sha256);
  HttpAnswer approve(const Parsed& p, LedgerPool::Lease& lease, const ServeSettings& s);
  HttpAnswer deny(const Parsed& p, LedgerPool::Lease& lease);
  // After a refused or rolled-back decision: the delivery a concurrent duplicate committed.
  std::optional<HttpAnswer> replay_if_stored(const Parsed& p, LedgerPool::Lease& lease);
  HttpAnswer ledger_unavailable(const engine::Status& s, std::string_view webhook_id);
  void audit(std::string_view event, const nlohmann::json& fields);

  ApprovalDeps d_;
  PromotionCommitter committer_;
};

}  // namespace ps::sidecar::server
