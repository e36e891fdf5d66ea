// Rules from the configuration file: the "rules" section overrides the reference's
// PROMOTION_REQUIREMENTS.
//
//   "rules": { "0": { "min_compliant_runs": 8 }, "2": { "requires_manual_review": false } }
//
// Keys are the tier promoted FROM ("0".."3"); each entry MERGES into that tier's defaults like
// Python's dict.update(): a key given replaces the default's value in place, a key the default
// lacks is appended, keys not given keep their defaults. Every requirement can be switched off
// by value (0, [], false), so replacement is never needed.
//
// Validation: unknown tier, unknown key, wrong type and negative numbers are errors whose
// message starts with the key path, e.g. `rules."1".min_compliant_runs: must be a non-negative
// integer`.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "engine/rules/rules.h"
#include "engine/base/status.h"

namespace ps::engine {

// Applies `section` (the value of "rules") onto `rules`. On error `rules` may be partly
// updated; callers discard it. Code::invalid_argument with a message starting with `path`.
Status apply_rules_config(const nlohmann::ordered_json& section, const std::string& path,
                          Rules& rules);

// `parent.key`, quoting the key when it is not an identifier: rules."1".min_compliant_runs.
std::string config_key_path(std::string_view parent, std::string_view key);

}  // namespace ps::engine
