// Webhook deliveries in the ledger (sidecar_webhook_deliveries): the approval webhook's
// idempotency store, one row per processed webhook id with the answer it got.
//
// Contracts:
//  - A delivery row is written in the SAME transaction as the decision it answers (by the
//    tier-change service, inside the promotion's or the denial's transaction), so a stored
//    answer exists exactly when its decision committed, and a crash never leaves one without
//    the other.
//  - The webhook id is the table's primary key and is inserted with INSERT OR IGNORE under the
//    write lock (BEGIN IMMEDIATE): of several concurrent deliveries of one id, exactly one
//    decision commits; the others roll back and read the stored answer
//    (Ledger::find_delivery).
//  - Rejected deliveries (bad signature, malformed, refused) are never stored.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "engine/base/status.h"
#include "engine/ledger/ledger.h"

namespace ps::engine {

// One processed webhook and the answer it got.
struct WebhookDelivery {
  std::string webhook_id;
  std::string received_at;  // isoformat UTC
  std::int64_t webhook_timestamp = 0;
  std::string body_sha256;  // lowercase hex of the raw body
  std::string event_type;   // promotion.approved | promotion.denied
  std::string agent_id;
  std::int64_t target_tier = 0;
  std::string actor;  // the approver (or denier)
  std::optional<std::string> review_id;
  int http_status = 200;
  std::string response;  // the JSON body answered
  std::optional<std::int64_t> promotion_id;
  std::optional<std::int64_t> denial_id;
};

// Writes `delivery` inside an open tier-change or denial transaction. aborted ("webhook id
// already recorded") when the id is stored already: returning that Status from the hook rolls
// the decision back.
Status record_delivery(LedgerTx& tx, const WebhookDelivery& delivery);

}  // namespace ps::engine
