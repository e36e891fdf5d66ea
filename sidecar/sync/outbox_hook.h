// The seam between a tier change and Vault: the TierChangeHook that writes the agent's desired
// Vault state into the outbox inside the tier change's own transaction (engine/ledger.h).
//
// Every path that changes a tier uses it: the promote and demote commands, the webhook's
// approvals and auto-promotion (serve). Whatever else a caller must write in the same
// transaction (e.g. the webhook's delivery record) goes into the same hook:
//
//   auto outbox = make_outbox_hook(desired);
//   ledger->promote(request, rules, [&](engine::LedgerTx& tx, const engine::TierChange& c) {
//     if (auto s = outbox(tx, c); !s.ok()) return s;
//     return engine::record_delivery(tx, delivery);
//   });
//
// After the commit, wake the sync worker (SyncWorker::wake) so the push starts at once.
#pragma once

#include <functional>
#include <memory>
#include <string_view>

#include "engine/ledger/ledger.h"
#include "sidecar/sync/desired_state.h"

namespace ps::sidecar {

// Test-only crash points: called with a point's name ("outbox.before_commit", ...); does
// nothing in production. See sidecar/sync/checkpoint.h.
using Checkpoint = std::function<void(std::string_view point)>;

// Writes the outbox row for `change` (promotion or demotion; the timestamp of the change is
// when the row becomes due). Fails only when the ledger write fails; an agent id that cannot
// name a role still commits, with the row parked (see DesiredState::change_for).
engine::TierChangeHook make_outbox_hook(std::shared_ptr<const DesiredState> desired,
                                        Checkpoint checkpoint = {});

// Runs `first`, then (if it succeeded) `second`, in the same transaction.
engine::TierChangeHook chain_hooks(engine::TierChangeHook first, engine::TierChangeHook second);

}  // namespace ps::sidecar
