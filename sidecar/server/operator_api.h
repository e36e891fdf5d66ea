// The operator API (Vault-style envelopes: {"data": ...} on success, {"errors": [...]} on
// failure), authenticated with `Authorization: Bearer <token>` (api.token_file; compared in
// constant time over SHA-256 digests, so neither content nor length leaks):
//
//   GET  /v1/agents/{id}                 evaluation (reference shape), tier, sync state,
//                                        latest denials
//   GET  /v1/eligible                    ELIGIBLE and PENDING_REVIEW evaluations; agents with
//                                        invalid data listed under "skipped"
//   GET  /v1/promotions?agent_id=&limit= promotions rows, newest first (limit 1..1000, 20)
//   GET  /v1/sync                        outbox counts, oldest pending change, parked rows
//   POST /v1/reconcile[?dry_run=true]    one reconcile pass now; its summary and plan
//   GET  /v1/freeze                      the kill switch: frozen, reason, by, since
//   POST /v1/freeze {"reason", "by"?}    every agent to tier 0 now, promotions refused (409
//                                        when already frozen)
//   POST /v1/unfreeze {"by"?}            promotions follow the rules again (409 when not
//                                        frozen)
//
// Statuses: 401 no token, 403 wrong token, 400 bad id or parameter (the id is URL-decoded by
// the listener and must be 1-512 bytes of UTF-8 without control characters), 404 unknown
// agent or the API disabled (no api.token_file), 409 the agent's ledger rows are invalid,
// 503 + Retry-After the ledger (or Vault sync, for reconcile) is unavailable.
//
// Thread-safe: every request borrows its own ledger session.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "engine/ledger/outbox.h"
#include "sidecar/config/log.h"
#include "sidecar/server/webhook.h"  // HttpAnswer, errors_body
#include "sidecar/sync/ledger_pool.h"
#include "sidecar/config/settings.h"
#include "sidecar/sync/reconciler.h"
#include "sidecar/sync/tier_change_service.h"
#include "engine/base/clock.h"

namespace ps::sidecar::server {

struct ApiRequest {
  std::multimap<std::string, std::string> params;  // decoded query parameters
  std::string authorization;                       // the Authorization header ("" if none)
  std::string body;                                // POST bodies (JSON)
};

struct OperatorApiDeps {
  LedgerPool& ledgers;
  const SettingsStore& settings;
  // Empty when the daemon runs without Vault sync (then /v1/sync and /v1/reconcile are 503).
  std::function<Result<std::unique_ptr<engine::Outbox>>()> open_outbox;
  std::function<Result<ReconcileReport>(bool dry_run)> reconcile;
  Clock& clock;
  Logger& log;
  TierChangeService* tier_changes = nullptr;  // freeze / unfreeze; null: 503
};

class OperatorApi {
 public:
  explicit OperatorApi(OperatorApiDeps deps) : d_(std::move(deps)) {}

  // nullopt when the request may proceed; otherwise the 401/403/404 answer.
  std::optional<HttpAnswer> authorize(const ApiRequest& request) const;

  HttpAnswer agent(const ApiRequest& request, std::string_view agent_id);
  HttpAnswer eligible(const ApiRequest& request);
  HttpAnswer promotions(const ApiRequest& request);
  HttpAnswer sync(const ApiRequest& request);
  HttpAnswer reconcile(const ApiRequest& request);
  HttpAnswer freeze_state(const ApiRequest& request);
  HttpAnswer freeze(const ApiRequest& request);
  HttpAnswer unfreeze(const ApiRequest& request);

 private:
  HttpAnswer unavailable(const Status& s, std::string_view what) const;

  OperatorApiDeps d_;
};

// True for 1-512 bytes of valid UTF-8 without control characters (C0, DEL, C1).
bool is_valid_agent_id(std::string_view id);

// {"data": <data>}
HttpAnswer data_answer(const std::string& data_json, int status = 200);

}  // namespace ps::sidecar::server
