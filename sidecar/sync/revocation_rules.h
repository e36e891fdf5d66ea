// The revocation rules (config `revocation.rules`) applied to one violation: what the
// violation does to the agent's tier. Pure: no ledger, no clock.
//
//  - A rule for the violation's violation_type (exact match) wins over the severity rule.
//  - Severities are compared trimmed and case-insensitively (" HIGH " is high); anything else
//    (empty, unknown words) is invalid_severity: logged and counted by the caller, never
//    guessed - unless a violation_type rule decides the violation anyway.
//  - demote_one is one tier below the agent's tier at that moment; demote_to N is tier N
//    (an agent already at or below still gets the Vault-side steps).
//  - acknowledged rows are acted on like the others unless revocation.acknowledged = "skip".
#pragma once

#include <optional>
#include <string>

#include "engine/ledger/revocation.h"
#include "sidecar/config/revocation_config.h"

namespace ps::sidecar {

// "high" for " High\t"; nullopt for anything not low/medium/high/critical.
std::optional<std::string> normalize_severity(std::string_view severity);

engine::ViolationDecision decide_violation(const RevocationConfig& config,
                                           const engine::ViolationRow& violation,
                                           std::int64_t current_tier);

// True when the violation would change something (a rule other than none): such a violation,
// while unhandled, blocks the agent's promotions.
bool demotes(const RevocationConfig& config, const engine::ViolationRow& violation);

}  // namespace ps::sidecar
