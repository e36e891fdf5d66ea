// The reference engine's JSON shapes for evaluations (PromotionEvaluation.to_dict()), their
// evidence, and rules, written through PyJsonWriter so the bytes match json.dumps.
#pragma once

#include <string>

#include "engine/rules/pyjson.h"
#include "engine/rules/rules.h"

namespace ps::engine {

// {"agent_id", "current_tier", "target_tier", "status", "requirements_met",
//  "requirements_missing", "recommendation", "evidence", "timestamp"}
void write_evaluation(PyJsonWriter& w, const Evaluation& e);

// {} | {"current_tier": n} | {"metrics": {...}, "history": {...}, "requirements": {...}}
void write_evidence(PyJsonWriter& w, const Evidence& evidence);

// One PROMOTION_REQUIREMENTS entry, keys in their dict order.
void write_requirements(PyJsonWriter& w, const TierRequirements& req);

// json.dumps(evaluation.evidence): what the reference stores in promotions.evidence.
std::string evidence_json_compact(const Evidence& evidence);

}  // namespace ps::engine
