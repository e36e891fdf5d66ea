// The Vault-side steps of a revocation as durable work (sidecar_revocation_steps, migration 6):
// after a demotion commits, the credentials the agent already holds must stop carrying the old
// tier. One row per step and demotion, written in the demotion's own transaction:
//   destroy_secret_ids  destroy the role's secret IDs created before the cutoff
//   revoke_tokens       revoke the role's tokens created before the cutoff (or carrying a
//                       managed tier policy above the demoted tier)
// The role's token_policies change is the outbox row's job (engine/ledger/outbox.h), never
// waiting on these.
//
// Contracts (like the outbox's):
//  - claim_due() leases due pending rows (oldest first) and bumps their revision; finish()
//    applies an outcome only where the revision is still the claimed one, so a step is marked
//    done exactly once even when a crashed worker's lease was taken over. The steps themselves
//    are idempotent in Vault (a destroyed secret ID or revoked token is gone either way).
//  - A step is never superseded: a later promotion of the agent does not cancel it (it still
//    only touches credentials issued before its own demotion).
//  - Parked (failed) steps are retried by requeue_failed() (the reconciler's pass).
//
// Thread safety: a RevocationSteps owns one connection and is used by one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/base/status.h"
#include "engine/ledger/ledger.h"
#include "engine/ledger/outbox.h"  // ClaimRequest, to_unix_ms

namespace ps::engine {

enum class RevocationStepKind { destroy_secret_ids, revoke_tokens };
std::string_view to_string(RevocationStepKind kind);

enum class StepState { pending, done, failed };
std::string_view to_string(StepState state);

struct RevocationStepRequest {
  std::string agent_id;
  std::optional<std::string> role;  // nullopt: the id names no role; the step is parked at once
  std::int64_t demotion_id = 0;
  RevocationStepKind kind = RevocationStepKind::destroy_secret_ids;
  std::int64_t tier = 0;  // the tier the agent was demoted to
  WallTime cutoff;        // credentials created before it go
};

// Inside the demotion's transaction (from its TierChangeHook).
Status write_revocation_step(LedgerTx& tx, const RevocationStepRequest& step, WallTime now);

struct RevocationStep {
  std::int64_t id = 0;
  std::string agent_id;
  std::optional<std::string> role;
  std::int64_t demotion_id = 0;
  RevocationStepKind kind = RevocationStepKind::destroy_secret_ids;
  std::int64_t tier = 0;
  WallTime cutoff;
  StepState state = StepState::pending;
  std::int64_t revision = 0;
  std::int64_t attempts = 0;
  WallTime next_attempt_at;
  std::optional<std::string> error_code;
  std::optional<std::string> last_error;
  std::optional<std::string> detail;  // what the step did ("destroyed 2 of 3 secret IDs")
  std::string created_at;
  std::optional<std::string> done_at;
};

struct StepOutcome {
  enum class Kind { done, retry, parked, released };
  Kind kind = Kind::released;
  std::int64_t id = 0;
  std::int64_t revision = 0;  // the claim's
  WallTime next_attempt_at;   // retry
  std::optional<std::string> error_code;
  std::optional<std::string> message;
  std::optional<std::string> detail;
  bool count_attempt = true;
};

struct StepStats {
  std::int64_t pending = 0;
  std::int64_t done = 0;
  std::int64_t failed = 0;
  std::vector<RevocationStep> failed_rows;  // oldest first, at most the limit asked for
};

class RevocationSteps {
 public:
  // failed_precondition (naming `migrate`) without migration 6.
  static Result<std::unique_ptr<RevocationSteps>> open(const LedgerOptions& options);

  Result<std::vector<RevocationStep>> claim_due(const ClaimRequest& request);
  // Extends a claimed step's lease to `until` only if it is still pending, leased to `owner`
  // at the claimed `revision` (see Outbox::renew_lease). False: the claim is lost.
  Result<bool> renew_lease(std::int64_t id, std::int64_t revision, std::string_view owner,
                           WallTime until);
  // One transaction; per outcome true when applied (false: the row moved on or is gone).
  Result<std::vector<bool>> finish(const std::vector<StepOutcome>& outcomes, WallTime now);
  Result<StepStats> stats(std::int64_t failed_limit = 100);
  // The agent's steps, newest first.
  Result<std::vector<RevocationStep>> for_agent(std::string_view agent_id, std::int64_t limit);
  // Parked steps back to pending, due now. Returns how many.
  Result<std::int64_t> requeue_failed(WallTime now);
  // The earliest next attempt of pending steps, or nullopt.
  Result<std::optional<WallTime>> next_due();

 private:
  explicit RevocationSteps(std::unique_ptr<sqlite::Connection> conn) : conn_(std::move(conn)) {}
  Result<std::vector<std::int64_t>> claimable(const ClaimRequest& request);
  std::unique_ptr<sqlite::Connection> conn_;
};

}  // namespace ps::engine
