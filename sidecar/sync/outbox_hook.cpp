#include "sidecar/sync/outbox_hook.h"

#include <algorithm>

#include "engine/ledger/outbox.h"
#include "engine/ledger/revocation_steps.h"

namespace ps::sidecar {
namespace {

// A role shared with agents whose ids differ only in case takes the lowest tier among them:
// a raise above it is recorded (the ledger is the truth) but parked with role_collision, its
// policies the lowest tier's, so the shared role's privileges are only ever lowered.
void apply_collision(const DesiredState& desired, const std::vector<engine::RoleSharer>& sharers,
                     engine::DesiredChange& change) {
  if (sharers.empty()) return;
  std::int64_t lowest = change.tier;
  std::string names;
  for (const auto& s : sharers) {
    lowest = std::min(lowest, s.tier);
    names += (names.empty() ? "" : ", ") + s.agent_id;
  }
  if (lowest >= change.tier) return;  // this change is (or ties) the lowest: it is the role's
  change.policies = desired.policies_for_tier(lowest);
  change.problem_code = "role_collision";
  change.problem = "role " + change.role.value_or("?") + " is shared with agent(s) " + names +
                   " (ids that differ only in case) at Tier " + std::to_string(lowest) +
                   "; the role keeps the lowest tier's policies";
}

}  // namespace

engine::TierChangeHook make_outbox_hook(std::shared_ptr<const DesiredState> desired,
                                        Checkpoint checkpoint, HandoffFor handoff) {
  return [desired = std::move(desired), checkpoint = std::move(checkpoint),
          handoff = std::move(handoff)](engine::LedgerTx& tx,
                                        const engine::TierChange& change) -> Status {
    const auto at = engine::parse_iso8601(change.timestamp);
    if (!at) {
      return {Code::internal, "tier change without a valid timestamp: " + change.timestamp};
    }
    const auto kind = change.kind == engine::TierChange::Kind::demotion
                          ? engine::ChangeKind::demotion
                          : engine::ChangeKind::promotion;
    auto desired_change = desired->change_for(change.agent_id, change.to_tier, kind, *at);
    if (desired_change.role) {
      auto sharers = engine::role_sharers(tx, change.agent_id);
      if (!sharers.ok()) return sharers.status();
      apply_collision(*desired, *sharers, desired_change);
    }
    if (auto to = handoff ? handoff(change.agent_id) : std::nullopt) {
      desired_change.lease_owner = std::move(to->owner);
      desired_change.lease_until = *at + to->lease;
    }
    Status s = engine::write_desired_state(tx, desired_change);
    if (s.ok() && checkpoint) checkpoint("outbox.before_commit");
    return s;
  };
}

engine::TierChangeHook make_revocation_steps_hook(std::shared_ptr<const DesiredState> desired,
                                                  bool destroy_secret_ids, bool revoke_tokens) {
  return [desired = std::move(desired), destroy_secret_ids, revoke_tokens](
             engine::LedgerTx& tx, const engine::TierChange& change) -> Status {
    if (change.kind != engine::TierChange::Kind::demotion) return Status::success();
    const auto at = engine::parse_iso8601(change.timestamp);
    if (!at) return {Code::internal, "demotion without a valid timestamp: " + change.timestamp};
    engine::RevocationStepRequest step;
    step.agent_id = change.agent_id;
    if (auto role = desired->namer().role_for(change.agent_id)) step.role = role->str();
    step.demotion_id = change.promotion_id;
    step.tier = change.to_tier;
    step.cutoff = *at;
    for (const auto& [enabled, kind] :
         {std::pair{destroy_secret_ids, engine::RevocationStepKind::destroy_secret_ids},
          std::pair{revoke_tokens, engine::RevocationStepKind::revoke_tokens}}) {
      if (!enabled) continue;
      step.kind = kind;
      if (Status s = engine::write_revocation_step(tx, step, *at); !s.ok()) return s;
    }
    return Status::success();
  };
}

engine::TierChangeHook chain_hooks(engine::TierChangeHook first, engine::TierChangeHook second) {
  return [first = std::move(first), second = std::move(second)](
             engine::LedgerTx& tx, const engine::TierChange& change) -> Status {
    if (first) {
      if (Status s = first(tx, change); !s.ok()) return s;
    }
    if (second) return second(tx, change);
    return Status::success();
  };
}

}  // namespace ps::sidecar
