// The daemon's approval records in the ledger (migrations 4 and 5): webhook deliveries (the
// idempotency store of the approval webhook) and denials.
//
// Contracts:
//  - A delivery row is written in the SAME transaction as the decision it answers (inside
//    Ledger::promote's TierChangeHook for an approval, inside deny() for a denial), so a
//    stored answer exists exactly when its decision committed, and a crash never leaves one
//    without the other.
//  - The webhook id is the table's primary key and is inserted with INSERT OR IGNORE under
//    the write lock (BEGIN IMMEDIATE): of several concurrent deliveries of one id, exactly one
//    decision commits; the others roll back and read the stored answer.
//  - Rejected deliveries (bad signature, malformed, refused) are never stored: nothing in the
//    ledger changes for them.
//
// Thread safety: an ApprovalStore is used by one thread at a time (it owns one connection).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/ledger.h"
#include "engine/sqlite.h"
#include "engine/status.h"

namespace ps::engine {

// Migration 4: the delivery table; migration 5: denials. Listed in ledger_migrations.cpp.
inline constexpr std::string_view kWebhookDeliveriesMigration = R"sql(
CREATE TABLE IF NOT EXISTS sidecar_webhook_deliveries (
  webhook_id        TEXT PRIMARY KEY,
  received_at       TEXT NOT NULL,
  webhook_timestamp INTEGER NOT NULL,
  body_sha256       TEXT NOT NULL,
  event_type        TEXT NOT NULL,
  agent_id          TEXT NOT NULL,
  target_tier       INTEGER NOT NULL,
  actor             TEXT NOT NULL,
  review_id         TEXT,
  http_status       INTEGER NOT NULL,
  response          TEXT NOT NULL,
  promotion_id      INTEGER,
  denial_id         INTEGER
);
CREATE INDEX IF NOT EXISTS sidecar_webhook_deliveries_agent
  ON sidecar_webhook_deliveries(agent_id, received_at);
)sql";

inline constexpr std::string_view kDenialsMigration = R"sql(
CREATE TABLE IF NOT EXISTS sidecar_denials (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  timestamp    TEXT NOT NULL,
  agent_id     TEXT NOT NULL,
  current_tier INTEGER NOT NULL,
  target_tier  INTEGER NOT NULL,
  denied_by    TEXT NOT NULL,
  rationale    TEXT,
  review_id    TEXT,
  webhook_id   TEXT
);
CREATE INDEX IF NOT EXISTS sidecar_denials_agent ON sidecar_denials(agent_id, id);
)sql";

inline constexpr int kApprovalsSchemaVersion = 5;  // migrations 4 and 5 applied

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

struct DenialRequest {
  std::string agent_id;
  std::int64_t target_tier = 0;
  std::string denied_by;
  std::optional<std::string> rationale;
  std::optional<std::string> review_id;
  std::optional<std::string> webhook_id;
  WallTime now;
};

struct DenialRecord {
  std::int64_t id = 0;
  std::string timestamp;
  std::string agent_id;
  std::int64_t current_tier = 0;
  std::int64_t target_tier = 0;
  std::string denied_by;
  std::optional<std::string> rationale;
  std::optional<std::string> review_id;
  std::optional<std::string> webhook_id;
};

// Writes `delivery` inside an open tier-change transaction (call it from a TierChangeHook).
// aborted ("webhook id already recorded") when the id is stored already: returning that
// Status from the hook rolls the promotion back.
Status record_delivery(LedgerTx& tx, const WebhookDelivery& delivery);

class ApprovalStore {
 public:
  // Opens its own connection to an existing ledger (no schema check beyond what queries
  // need: call after Ledger::migrate()).
  static Result<std::unique_ptr<ApprovalStore>> open(const LedgerOptions& options);

  // The stored delivery with this id, or nullopt.
  Result<std::optional<WebhookDelivery>> find_delivery(std::string_view webhook_id);

  // One write transaction: the agent must exist and be at target_tier - 1
  // (failed_precondition otherwise, naming its tier), then the denial row and - when
  // `make_delivery` is given - the delivery built from the new record are inserted.
  // aborted when the delivery's id is stored already (nothing written).
  Result<DenialRecord> deny(const DenialRequest& request,
                            const std::function<WebhookDelivery(const DenialRecord&)>&
                                make_delivery = {});

  // Denials, newest first; agent_id empty = all; negative limit = no limit.
  Result<std::vector<DenialRecord>> denials(std::string_view agent_id, std::int64_t limit);

 private:
  explicit ApprovalStore(std::unique_ptr<sqlite::Connection> conn) : conn_(std::move(conn)) {}
  std::unique_ptr<sqlite::Connection> conn_;
};

// Switches the ledger file to write-ahead logging (persistent in the file; readers no longer
// block writers, and a commit costs one fsync instead of several). unavailable when another
// connection holds a lock that prevents the switch; the caller may go on in the old mode.
// Returns the journal mode in effect afterwards ("wal", "delete", ...).
Result<std::string> use_wal_journal(const LedgerOptions& options);
// The journal mode in effect, unchanged ("delete", "wal", ...).
Result<std::string> journal_mode(const LedgerOptions& options);

// Moves committed pages from the WAL into the ledger file, in the background: without it, the
// commit that pushes the WAL past 1000 pages does that copy (and an fsync of the ledger file)
// before it returns - a latency spike for whichever approval is unlucky. A frequent PASSIVE
// checkpoint (never waits for readers or writers) keeps the WAL short so that never happens.
class WalCheckpointer {
 public:
  static Result<std::unique_ptr<WalCheckpointer>> open(const LedgerOptions& options);
  // Returns the number of frames in the WAL and how many are now in the ledger file.
  struct Progress {
    std::int64_t wal_frames = 0;
    std::int64_t checkpointed = 0;
  };
  Result<Progress> checkpoint();

 private:
  explicit WalCheckpointer(std::unique_ptr<sqlite::Connection> conn) : conn_(std::move(conn)) {}
  std::unique_ptr<sqlite::Connection> conn_;
};

}  // namespace ps::engine
