// The seam between a tier change and Vault: the TierChangeHooks that write, inside the tier
// change's own transaction (engine/ledger/ledger.h), the agent's desired Vault state (the
// outbox row) and, for a demotion, the Vault-side revocation steps. The tier-change service
// (sidecar/sync/tier_change_service.h) is their only caller: it chains them with whatever else
// the change must commit (a webhook delivery record) and wakes the sync worker after COMMIT.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "engine/ledger/ledger.h"
#include "sidecar/sync/desired_state.h"

namespace ps::sidecar {

// Test-only crash points: called with a point's name ("outbox.before_commit", ...); does
// nothing in production. See sidecar/sync/checkpoint.h.
using Checkpoint = std::function<void(std::string_view point)>;

// The worker of this process that will push an agent's change (serve's sync worker for the
// agent's partition): its lease owner id and lease length.
struct Handoff {
  std::string owner;
  std::chrono::milliseconds lease{0};
};
// Who takes `agent_id`'s push; nullopt when no worker of this process will (the CLI, a
// stopping worker). Called inside the tier change's transaction: must not block.
using HandoffFor = std::function<std::optional<Handoff>(std::string_view agent_id)>;

// Writes the outbox row for `change` (promotion or demotion; the timestamp of the change is
// when the row becomes due). Fails only when the ledger write fails; an agent id that cannot
// name a role still commits, with the row parked (see DesiredState::change_for).
// With `handoff` naming a worker, the row is written leased to it (engine::DesiredChange::
// lease_owner), so that worker pushes it without a claim transaction of its own.
engine::TierChangeHook make_outbox_hook(std::shared_ptr<const DesiredState> desired,
                                        Checkpoint checkpoint = {}, HandoffFor handoff = {});

// For a demotion: the Vault-side revocation steps the config enables (destroy the role's secret
// IDs, revoke its tokens; engine/ledger/revocation_steps.h), cut off at the demotion's time.
// Nothing for a promotion.
engine::TierChangeHook make_revocation_steps_hook(std::shared_ptr<const DesiredState> desired,
                                                  bool destroy_secret_ids, bool revoke_tokens);

// Runs `first`, then (if it succeeded) `second`, in the same transaction.
engine::TierChangeHook chain_hooks(engine::TierChangeHook first, engine::TierChangeHook second);

}  // namespace ps::sidecar
