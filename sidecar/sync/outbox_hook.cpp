#include "sidecar/sync/outbox_hook.h"

#include "engine/ledger/outbox.h"

namespace ps::sidecar {

engine::TierChangeHook make_outbox_hook(std::shared_ptr<const DesiredState> desired,
                                        Checkpoint checkpoint) {
  return [desired = std::move(desired), checkpoint = std::move(checkpoint)](
             engine::LedgerTx& tx, const engine::TierChange& change) -> Status {
    const auto at = engine::parse_iso8601(change.timestamp);
    if (!at) {
      return {Code::internal, "tier change without a valid timestamp: " + change.timestamp};
    }
    const auto kind = change.kind == engine::TierChange::Kind::demotion
                          ? engine::ChangeKind::demotion
                          : engine::ChangeKind::promotion;
    Status s =
        engine::write_desired_state(tx, desired->change_for(change.agent_id, change.to_tier,
                                                            kind, *at));
    if (s.ok() && checkpoint) checkpoint("outbox.before_commit");
    return s;
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
