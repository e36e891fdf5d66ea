// The one JSON rendering of an outbox row, used by `policy-sidecar status --json` and the
// operator API (GET /v1/agents/{id} "sync", GET /v1/sync "failed_rows"). Keys (additive only):
//   agent_id, role, tier, policies, state, kind, generation, synced_generation, attempts,
//   next_attempt_at (null unless pending), changed_at, updated_at, pending_since,
//   pending_age_s (null when synced or never pending), error_code, last_error, synced_at
// Times are isoformat UTC; pending_age_s is seconds at `now`, one decimal.
#pragma once

#include <nlohmann/json.hpp>

#include "engine/ledger/outbox.h"

namespace ps::sidecar {

nlohmann::ordered_json outbox_row_json(const engine::OutboxRow& row, engine::WallTime now);

// Seconds from `since` to `now`, rounded to one decimal, never negative.
double age_seconds(engine::WallTime since, engine::WallTime now);

}  // namespace ps::sidecar
