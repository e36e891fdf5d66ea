// Carries out the Vault-side steps of revocations (engine/ledger/revocation_steps.h) for the
// sync worker, after its policy pushes (the role's token_policies always change first and
// never wait on these):
//   destroy_secret_ids  list the role's secret-ID accessors, look each up, destroy those created
//                       before the step's cutoff (the demotion's time); later ones are kept
//   revoke_tokens       list every token accessor ONCE per batch (needs sudo on
//                       auth/token/accessors), look each up once, and revoke the tokens whose
//                       metadata role_name is the step's role and that were created before the
//                       cutoff or carry a managed tier policy the demoted tier does not justify
//                       (a login between the demotion and the policy push); tokens issued after
//                       the demotion with the new policies are never touched
// Both are idempotent: a secret ID or token already gone counts as done.
//
// Errors: a Vault-wide failure (down, sealed, own token) ends the batch (the caller pauses; the
// step retries on its own schedule, the rest are released untouched); a problem of the step's
// own (permission denied, role missing on a write) parks it with the reason; the reconciler's
// pass requeues parked steps.
//
// Leases (sidecar/sync/lease.h): before every destroy or revoke the step's
// claim is re-checked and renewed when less than LeaseBudget::before_write() is left; a step
// another worker has taken over gets no more writes from this one (it is released, counted in
// Batch::lease_lost). A step (but the batch's first) is started only with at least
// kRequestsPerStep request deadlines of lease left; the rest of the batch is released.
//
// Used from the worker's thread only.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/base/clock.h"
#include "engine/ledger/revocation_steps.h"
#include "sidecar/config/log.h"
#include "sidecar/sync/desired_state.h"
#include "sidecar/sync/events.h"
#include "sidecar/sync/lease.h"
#include "sidecar/sync/rate_limiter.h"
#include "vault/api.h"

namespace ps::sidecar {

using StepsFactory = std::function<Result<std::unique_ptr<engine::RevocationSteps>>()>;

class RevocationRunner {
 public:
  // `backoff(attempts)` is the per-row retry delay (the worker's schedule).
  RevocationRunner(StepsFactory open_steps, std::shared_ptr<const DesiredState> desired,
                   RateLimiter& limiter, Clock& clock, Logger& log, SyncEvents& events,
                   std::function<std::chrono::milliseconds(std::int64_t)> backoff,
                   LeaseBudget budget = {});

  struct Batch {
    std::int64_t claimed = 0;
    std::int64_t done = 0;
    std::int64_t retried = 0;
    std::int64_t parked = 0;
    std::int64_t lease_lost = 0;  // steps taken over by another worker before a write
    std::optional<vault::Error> vault_error;  // set: Vault as a whole failed; pause
  };
  // Claims due steps (the worker's lease owner) and carries them out with `api`. Ledger errors
  // are returned; Vault errors end up in the steps and the Batch.
  Result<Batch> run_batch(vault::VaultApi& api, const engine::ClaimRequest& claim);

  // The earliest next attempt of a pending step (to sleep until then), or nullopt.
  std::optional<engine::WallTime> next_due();

 private:
  struct Work;  // one step in progress
  void destroy_secret_ids(vault::VaultApi& api, Work& w);
  void revoke_tokens(vault::VaultApi& api, std::vector<Work*>& steps);
  bool open();
  // Before a destroy or revoke for `w` (see Leases above): false when the claim is lost.
  bool hold_lease(Work& w);
  // True when less than `requests` request deadlines of the batch's lease are left.
  bool lease_short(int requests) const;
  void fail(Work& w, const vault::Error& error);
  void report(const Work& w);

  StepsFactory open_steps_;
  std::shared_ptr<const DesiredState> desired_;
  RateLimiter& limiter_;
  Clock& clock_;
  Logger& log_;
  SyncEvents& events_;
  std::function<std::chrono::milliseconds(std::int64_t)> backoff_;
  std::unique_ptr<engine::RevocationSteps> steps_;  // worker thread only
  bool unavailable_ = false;  // the ledger has no steps table (older schema): skip
  std::optional<vault::Error> vault_error_;  // this batch's
  LeaseBudget budget_;
  std::string owner_;                    // this batch's claim
  std::chrono::milliseconds lease_{0};   // this batch's claim
  engine::WallTime lease_until_{};       // of the batch's claims (renewals move each step's)
};

}  // namespace ps::sidecar
