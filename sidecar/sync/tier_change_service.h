// The tier-change service: the one path every tier change takes - the CLI's promote and demote,
// the approval webhook's approve and deny, the periodic auto-promotion, violation-driven
// revocation (the watcher in serve, `revoke-scan`), and the kill switch (freeze).
//
// What it owns, so no caller composes it again:
//  - who may decide which step (authorize(): webhook.reviewers / webhook.admins, from the rules
//    in effect; an admin may also decide review steps);
//  - the write transaction: promotions through group commit (concurrent promotions share one
//    transaction and one fsync, engine::Ledger::promote_batch), demotions and denials under the
//    pool's write mutex;
//  - what commits with the change: the outbox row that makes Vault follow (make_outbox_hook),
//    for a demotion the Vault-side revocation steps (make_revocation_steps_hook), and for a
//    webhook decision the delivery record that answers it (record_delivery), chained into one
//    hook (chain_hooks);
//  - the guard of every promotion, inside its transaction: refused while frozen, while the
//    agent has an unhandled violation whose rule is not `none`, and during the cooldown after a
//    demotion (the evaluation's own requirement, engine/rules/rules.h);
//  - after a commit that queued a push: the wake-up of the sync worker (deps.on_committed);
//    inside it, the hand-off of the row to that worker (deps.handoff); and the workers'
//    finishes share the promotions' group commit (record_pushes);
//  - reporting each decision through TierChangeEvents (metrics, logs, audit in serve).
//
// Errors are the ledger's (engine/ledger/ledger.h): aborted (the agent moved), failed_precondition
// (not eligible, nothing to deny), invalid_data, invalid_argument, permission_denied (the actor
// may not decide this step); unavailable / internal when the ledger fails.
//
// Thread-safe: every method may be called concurrently (the daemon's request threads).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "engine/base/clock.h"
#include "engine/base/mutex.h"
#include "engine/base/status.h"
#include "engine/ledger/ledger.h"
#include "engine/ledger/revocation.h"
#include "engine/ledger/webhook_deliveries.h"
#include "sidecar/config/settings.h"
#include "sidecar/sync/desired_state.h"
#include "sidecar/sync/events.h"
#include "sidecar/sync/group_commit.h"
#include "sidecar/sync/ledger_pool.h"
#include "sidecar/sync/outbox_hook.h"

namespace ps::sidecar {

struct TierChangeServiceDeps {
  LedgerPool& ledgers;
  const SettingsStore& settings;  // rules and approver lists in effect (a SIGHUP may swap them)
  Clock& clock;
  TierChangeEvents& events;
  // Called after every commit that queued a Vault push, with the agent it is for (empty: for
  // several agents); wakes the sync worker of that agent's partition. May be empty.
  std::function<void(std::string_view agent_id)> on_committed = {};
  // The worker each change's outbox row is handed to (make_outbox_hook). May be empty.
  HandoffFor handoff = {};
  Checkpoint checkpoint = {};  // test crash point outbox.before_commit
  std::size_t max_batch = 64;  // promotions per group-commit transaction
  // While approvals flow, a worker's finish waits up to this for the next approval's commit
  // to ride along with (PromotionCommitter's finish_hold).
  std::chrono::milliseconds finish_hold{10};
};

class TierChangeService {
 public:
  // `desired` maps tiers to Vault state; null when the sidecar does not sync Vault (then no
  // outbox row is written).
  TierChangeService(TierChangeServiceDeps deps, std::shared_ptr<const DesiredState> desired);

  // A reload's new role mapping: changes committed from now on use it.
  void set_desired(std::shared_ptr<const DesiredState> desired);
  bool syncs_vault() const;

  struct Promotion {
    std::string agent_id;
    std::string approved_by;
    std::optional<std::string> rationale;
    // The tier the approver saw: promote only from it (aborted otherwise).
    std::optional<std::int64_t> expected_from_tier;
    std::optional<engine::WallTime> at;  // default: the clock's now
    ChangeSource source = ChangeSource::cli;
  };
  Result<engine::PromotionRecord> promote(const Promotion& promotion);

  // Reserved: only promote_automatically() records it. promote() and decide() refuse it as an
  // actor (invalid_argument; the webhook answers 400, the CLI's parser refuses it first).
  static constexpr const char* kAutoApprover = "policy-sidecar:auto";
  // True when the step up from `from_tier` needs a reviewer or an admin under `rules`.
  static bool needs_person(const engine::Rules& rules, std::int64_t from_tier);
  // The periodic evaluation's promotion of an agent whose next step needs no person, by
  // kAutoApprover, only if it is still at `from_tier` and still needs no person. Decided twice:
  // before queueing under the settings in effect then, and again inside the promotion's write
  // transaction under the settings in effect at commit (a SIGHUP may have swapped them):
  // failed_precondition when the step now needs a person, aborted when the rules were reloaded
  // in between (nothing commits; the next evaluation pass decides under the new rules).
  Result<engine::PromotionRecord> promote_automatically(const std::string& agent_id,
                                                        std::int64_t from_tier);

  // ok when `actor` may decide the step to `target_tier` under the settings in effect;
  // permission_denied naming the list it must be in otherwise.
  Status authorize(const std::string& actor, std::int64_t target_tier) const;

  // A signed webhook decision: authorize, then promote (approve) or record the denial, with the
  // delivery record in the same transaction. `delivery` carries the webhook's own fields; the
  // service fills in the answer (rendered by the caller from what committed) and the ids.
  struct Decision {
    bool approve = true;
    std::string agent_id;
    std::int64_t target_tier = 0;
    std::string actor;
    std::optional<std::string> rationale;
    std::optional<std::string> review_id;
    engine::WebhookDelivery delivery;
    std::function<std::string(const engine::TierChange&)> render_approval;
    std::function<std::string(const engine::DenialRecord&)> render_denial;
  };
  struct Decided {
    std::string answer;  // the body stored with the delivery
    std::optional<engine::PromotionRecord> promotion;
    std::optional<engine::DenialRecord> denial;
  };
  Result<Decided> decide(const Decision& decision);

  struct Demotion {
    std::string agent_id;
    std::int64_t to_tier = 0;
    std::string demoted_by;
    std::string reason;
    std::optional<std::int64_t> expected_from_tier;
    std::optional<engine::WallTime> at;
    ChangeSource source = ChangeSource::cli;
  };
  Result<engine::DemotionRecord> demote(const Demotion& demotion);

  // Violations to demotions (revocation.rules in effect), every batch one transaction that also
  // advances the mark; loops until none is due. from_id replays violations with id >= from_id
  // on purpose (revoke-scan --from-id).
  struct ViolationPass {
    std::int64_t handled = 0;
    std::int64_t demoted = 0;           // tier lowered
    std::int64_t revoked_in_place = 0;  // already at or below: Vault-side steps only
    std::int64_t no_action = 0;
    std::int64_t invalid_severity = 0;
    std::int64_t unknown_agent = 0;
    std::int64_t invalid_agent_data = 0;
    std::int64_t below_mark = 0;  // found late (inserted with an id below the mark)
    std::int64_t mark = 0;        // the mark afterwards
  };
  Result<ViolationPass> scan_violations(std::optional<std::int64_t> from_id = std::nullopt,
                                        std::string by = "policy-sidecar:revocation");

  // The kill switch: every agent to tier 0 in one transaction (top-priority pushes and the
  // Vault-side steps); promotions refused until unfreeze(). failed_precondition when already
  // frozen (or, for unfreeze, when not frozen).
  Result<engine::FreezeResult> freeze(const std::string& reason, const std::string& by,
                                      ChangeSource source);
  Status unfreeze(const std::string& by, ChangeSource source);

  // The sync workers' finish in serve (SyncWorkerOptions::finish): their outcomes are recorded
  // in the promotions' group commit, so an approval never queues for SQLite's lock behind a
  // worker's own transaction. Errors as engine::Outbox::finish.
  Result<std::vector<engine::FinishResult>> record_pushes(
      const std::vector<engine::PushOutcome>& outcomes, std::string_view owner,
      engine::WallTime now);

 private:
  engine::TierChangeHook change_hook(const ServeSettings& settings) const;
  std::function<Status(engine::LedgerTx&)> promotion_guard(const std::string& agent_id,
                                                           const ServeSettings& settings) const;
  void count(ViolationPass& pass, const engine::ViolationOutcome& o) const;
  static Status refuse_reserved_actor(const std::string& actor);
  engine::TierChangeHook auto_recheck(std::shared_ptr<const engine::Rules> decided_with) const;
  Result<engine::PromotionRecord> commit_promotion(engine::PromotionRequest request,
                                                   const ServeSettings& settings,
                                                   engine::TierChangeHook extra);
  // Runs `work` on a pooled ledger under the in-process write mutex; drops the connection after
  // an error that is not a refusal.
  template <class T>
  Result<T> with_writer(const std::function<Result<T>(engine::Ledger&)>& work);
  Result<Decided> approve(const Decision& decision, const ServeSettings& settings);
  Result<Decided> deny(const Decision& decision);
  void report_promotion(const Result<engine::PromotionRecord>& record, ChangeSource source,
                        const std::string& agent_id, const Decision* decision);
  void committed(std::string_view agent_id);

  TierChangeServiceDeps d_;
  PromotionCommitter committer_;
  mutable ps::Mutex desired_mu_;
  std::shared_ptr<const DesiredState> desired_ GUARDED_BY(desired_mu_);
};

}  // namespace ps::sidecar
