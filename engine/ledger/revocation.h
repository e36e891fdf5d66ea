// Revocation in the ledger (migration 6): violations the platform writes turn into demotions
// exactly once, the kill switch (freeze), and the guard every promotion runs.
//
// Tables:
//   sidecar_revocation_mark     one row: the highest violations.id the sidecar has handled,
//                               and where it started (the highest id when migration 6 ran:
//                               violations older than the sidecar are not acted on)
//   sidecar_violation_outcomes  one row per violation handled (and one 'before_sidecar' row per
//                               violation that existed when migration 6 ran): what became of
//                               it, so a row inserted later with an id below the mark is found
//   sidecar_freeze              one row: frozen or not, why, by whom, since when
//   sidecar_demotions           gains `source` (manual | violation | freeze) and `violation_id`
//
// Contracts:
//  - apply_violations() is ONE write transaction: it reads the mark, takes the violations after
//    it in id order (and any unhandled row below it), decides each against the agent's tier at
//    that moment (two demoting violations in one pass drop two steps), demotes through
//    demote_locked() (the hook writes the outbox row and the Vault-side steps), records every
//    outcome and advances the mark - all committed together or not at all. Two processes
//    running it at once serialise on the write lock and never handle a violation twice.
//  - The decision is the caller's (the revocation rules live in sidecar/config); the ledger
//    never interprets severities.
//  - freeze() is one write transaction: the freeze row, and every agent demoted to tier 0
//    (source freeze; agents already at 0 recorded too, so their Vault-side steps run).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "engine/base/status.h"
#include "engine/ledger/ledger.h"

namespace ps::engine {

// One violations row, as the platform wrote it.
struct ViolationRow {
  std::int64_t id = 0;
  std::string timestamp;
  std::string agent_id;
  std::string violation_type;
  std::string severity;  // as written: compare trimmed and case-insensitively
  bool acknowledged = false;
};

// What the caller's rules say about one violation.
struct ViolationDecision {
  enum class Kind {
    none,              // the rule says nothing happens (recorded as `no_action`)
    demote,            // demote to `to_tier` (already at or below: Vault-side steps only)
    invalid_severity,  // severity not understood: recorded, nothing else
  };
  Kind kind = Kind::none;
  std::int64_t to_tier = 0;
  std::string rule;  // which rule decided, for the record ("severity critical: demote_to 0")
};
// `current_tier` is the agent's tier at that moment inside the transaction.
using ViolationDecider =
    std::function<ViolationDecision(const ViolationRow& violation, std::int64_t current_tier)>;

struct ViolationScan {
  WallTime now;
  std::int64_t limit = 500;  // violations per transaction
  // Replays violations with id >= from_id on purpose (revoke-scan --from-id); the mark never
  // goes back.
  std::optional<std::int64_t> from_id;
  std::string by = "policy-sidecar:revocation";  // sidecar_demotions.demoted_by
};

// What became of one violation.
struct ViolationOutcome {
  ViolationRow violation;
  // demoted | no_action | invalid_severity | unknown_agent | invalid_agent_data
  std::string outcome;
  std::string rule;
  std::optional<DemotionRecord> demotion;
  bool below_mark = false;  // its id was at or below the mark when it was found
};

struct ViolationScanResult {
  std::vector<ViolationOutcome> outcomes;  // in id order
  std::int64_t mark_before = 0;
  std::int64_t mark_after = 0;
  bool more = false;  // the limit was reached: call again
};

struct RevocationMark {
  std::int64_t last_violation_id = 0;
  std::int64_t started_at_id = 0;
  std::optional<std::string> updated_at;
};

struct FreezeState {
  bool frozen = false;
  std::string reason;
  std::string by;
  std::optional<std::string> since;  // isoformat
};

struct FreezeRequest {
  std::string reason;
  std::string by;
  WallTime now;
};
struct FreezeResult {
  std::int64_t agents = 0;   // agents recorded (every agent_metrics row with a valid tier)
  std::int64_t demoted = 0;  // of them, tiers lowered
  std::vector<std::string> invalid;  // agents skipped for invalid data
};

// The freeze state on any connection (not frozen when the ledger has no freeze table).
Result<FreezeState> read_freeze_state(const sqlite::Connection& conn);

// Inside a promotion's transaction (PromotionRequest::precondition): the freeze state, and
// the agent's violations not handled yet (after the mark, or below it without an outcome).
Result<FreezeState> freeze_state(LedgerTx& tx);
Result<std::vector<ViolationRow>> unhandled_violations(LedgerTx& tx, std::string_view agent_id);

// Outside a transaction of the caller's.
class Revocations {
 public:
  explicit Revocations(Ledger& ledger) : ledger_(ledger) {}
  Result<ViolationScanResult> apply_violations(const ViolationScan& scan,
                                               const ViolationDecider& decide,
                                               const TierChangeHook& hook);
  Result<FreezeResult> freeze(const FreezeRequest& request, const TierChangeHook& hook);
  // failed_precondition when not frozen.
  Status unfreeze(const std::string& by, WallTime now);
  Result<FreezeState> freeze_state();
  Result<RevocationMark> mark();
  // The newest outcomes, newest first (status, API).
  Result<std::vector<ViolationOutcome>> recent_outcomes(std::int64_t limit);

 private:
  Result<bool> work_due(const ViolationScan& scan);
  Result<ViolationOutcome> apply_one(const ViolationRow& v, const ViolationScan& scan,
                                     const ViolationDecider& decide, const TierChangeHook& hook);
  Ledger& ledger_;
};

}  // namespace ps::engine
