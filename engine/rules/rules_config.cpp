#include "engine/rules/rules_config.h"

#include <limits>
#include <set>

namespace ps::engine {
namespace {

bool is_identifier(std::string_view s) {
  if (s.empty()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    const bool digit = c >= '0' && c <= '9';
    if (!alpha && !(digit && i > 0)) return false;
  }
  return true;
}

Status invalid(const std::string& path, const std::string& what) {
  return {Code::invalid_argument, path + ": " + what};
}

std::string known_keys() {
  std::string out;
  for (RequirementKey k : kAllRequirementKeys) {
    if (!out.empty()) out += ", ";
    out += requirement_key_name(k);
  }
  return out;
}

// Validates `v` for `key` and stores it into `into` (dict[key] = v). Each branch calls set()
// itself rather than returning a variant: GCC 12 reports a false maybe-uninitialized on the
// returned variant in sanitizer builds.
Status store_value(RequirementKey key, const nlohmann::ordered_json& v, const std::string& path,
                   TierRequirements& into) {
  switch (key) {
    case RequirementKey::min_compliant_runs:
    case RequirementKey::min_consecutive_compliant:
    case RequirementKey::min_successful_modifications:
    case RequirementKey::max_violations_30d: {
      constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
      if (v.is_number_unsigned() && v.get<std::uint64_t>() <= kMax) {
        into.set(key, static_cast<std::int64_t>(v.get<std::uint64_t>()));
        return Status::success();
      }
      if (v.is_number_integer() && v.get<std::int64_t>() >= 0) {
        into.set(key, v.get<std::int64_t>());
        return Status::success();
      }
      return invalid(path, "must be a non-negative integer");
    }
    case RequirementKey::requires_manual_review:
    case RequirementKey::requires_admin_approval:
      if (!v.is_boolean()) return invalid(path, "must be true or false");
      into.set(key, v.get<bool>());
      return Status::success();
    case RequirementKey::description:
      if (!v.is_string()) return invalid(path, "must be a string");
      into.set(key, v.get<std::string>());
      return Status::success();
    case RequirementKey::required_action_types: {
      if (!v.is_array()) return invalid(path, "must be a list of action type names");
      std::vector<std::string> types;
      std::set<std::string> seen;
      for (std::size_t i = 0; i < v.size(); ++i) {
        const std::string item_path = path + "[" + std::to_string(i) + "]";
        if (!v[i].is_string() || v[i].get<std::string>().empty()) {
          return invalid(item_path, "must be a non-empty string");
        }
        if (!seen.insert(v[i].get<std::string>()).second) {
          return invalid(item_path, "duplicate action type \"" + v[i].get<std::string>() + "\"");
        }
        types.push_back(v[i].get<std::string>());
      }
      into.set(key, std::move(types));
      return Status::success();
    }
  }
  return invalid(path, "unsupported key");
}

}  // namespace

std::string config_key_path(std::string_view parent, std::string_view key) {
  std::string out(parent);
  if (!out.empty()) out += '.';
  if (is_identifier(key)) {
    out += key;
  } else {
    out += '"';
    out += key;
    out += '"';
  }
  return out;
}

Status apply_rules_config(const nlohmann::ordered_json& section, const std::string& path,
                          Rules& rules) {
  if (!section.is_object()) {
    return invalid(path, "must be an object keyed by the tier promoted from (\"0\"..\"3\")");
  }
  for (const auto& [tier_key, entry] : section.items()) {
    const std::string tier_path = config_key_path(path, tier_key);
    const bool known_tier = tier_key.size() == 1 && tier_key[0] >= '0' &&
                            tier_key[0] < static_cast<char>('0' + kRuleTiers);
    if (!known_tier) {
      return invalid(tier_path, "unknown tier (rules are keyed by the tier promoted from: "
                                "\"0\", \"1\", \"2\" or \"3\")");
    }
    if (!entry.is_object()) return invalid(tier_path, "must be an object");
    const std::int64_t tier = tier_key[0] - '0';
    TierRequirements merged = *rules.for_tier(tier);
    for (const auto& [name, value] : entry.items()) {
      const std::string key_path = config_key_path(tier_path, name);
      const auto key = requirement_key_from_name(name);
      if (!key) return invalid(key_path, "unknown key (known: " + known_keys() + ")");
      if (Status st = store_value(*key, value, key_path, merged); !st.ok()) return st;
    }
    rules.set_tier(tier, std::move(merged));
  }
  return Status::success();
}

}  // namespace ps::engine
