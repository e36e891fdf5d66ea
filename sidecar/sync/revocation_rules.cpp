#include "sidecar/sync/revocation_rules.h"

#include <algorithm>
#include <cctype>

namespace ps::sidecar {
namespace {

engine::ViolationDecision from_rule(const RevocationRule& rule, std::int64_t tier,
                                    std::string why) {
  engine::ViolationDecision d;
  d.rule = std::move(why) + ": " + rule.describe();
  switch (rule.kind) {
    case RevocationRule::Kind::none:
      d.kind = engine::ViolationDecision::Kind::none;
      break;
    case RevocationRule::Kind::demote_one:
      d.kind = engine::ViolationDecision::Kind::demote;
      d.to_tier = std::max<std::int64_t>(0, tier - 1);
      break;
    case RevocationRule::Kind::demote_to:
      d.kind = engine::ViolationDecision::Kind::demote;
      d.to_tier = rule.tier;
      break;
  }
  return d;
}

}  // namespace

std::optional<std::string> normalize_severity(std::string_view s) {
  auto space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  std::string lower(s);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower == "low" || lower == "medium" || lower == "high" || lower == "critical") return lower;
  return std::nullopt;
}

engine::ViolationDecision decide_violation(const RevocationConfig& config,
                                           const engine::ViolationRow& v,
                                           std::int64_t current_tier) {
  if (v.acknowledged && !config.act_on_acknowledged) {
    engine::ViolationDecision d;
    d.rule = "acknowledged (revocation.acknowledged = skip)";
    return d;
  }
  if (auto it = config.by_type.find(v.violation_type); it != config.by_type.end()) {
    return from_rule(it->second, current_tier, "violation_type " + v.violation_type);
  }
  const auto severity = normalize_severity(v.severity);
  if (!severity) {
    engine::ViolationDecision d;
    d.kind = engine::ViolationDecision::Kind::invalid_severity;
    d.rule = "severity not understood";
    return d;
  }
  auto it = config.by_severity.find(*severity);
  if (it == config.by_severity.end()) {
    engine::ViolationDecision d;
    d.rule = "severity " + *severity + ": none";
    return d;
  }
  return from_rule(it->second, current_tier, "severity " + *severity);
}

bool demotes(const RevocationConfig& config, const engine::ViolationRow& v) {
  // The tier does not matter for "does a rule apply": demote_one from any tier still revokes.
  return decide_violation(config, v, engine::kMaxTier).kind ==
         engine::ViolationDecision::Kind::demote;
}

}  // namespace ps::sidecar
