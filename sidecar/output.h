// The reference engine's output formats, byte for byte: the "=====" text blocks and the
// json.dumps(..., indent=2) documents. Each function appends to `out` (the trailing newline
// of Python's print included).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "engine/ledger.h"
#include "engine/rules.h"

namespace ps::sidecar {

void evaluation_text(std::string& out, const engine::Evaluation& e);
void evaluation_json(std::string& out, const engine::Evaluation& e);

// `eligible` holds only ELIGIBLE / PENDING_REVIEW evaluations, in output order.
void eligible_text(std::string& out, const std::vector<engine::Evaluation>& eligible);
void eligible_json(std::string& out, const std::vector<engine::Evaluation>& eligible);

void history_text(std::string& out, const engine::PromotionHistory& history);
void history_json(std::string& out, const engine::PromotionHistory& history);

// All four rule tiers, or just `tier` (any integer; unknown tiers print "No description").
void requirements_text(std::string& out, const engine::Rules& rules,
                       std::optional<std::int64_t> tier);

}  // namespace ps::sidecar
