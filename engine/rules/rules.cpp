#include "engine/rules/rules.h"

#include <algorithm>
#include <cassert>

namespace ps::engine {

const char* requirement_key_name(RequirementKey key) {
  switch (key) {
    case RequirementKey::min_compliant_runs: return "min_compliant_runs";
    case RequirementKey::min_consecutive_compliant: return "min_consecutive_compliant";
    case RequirementKey::required_action_types: return "required_action_types";
    case RequirementKey::min_successful_modifications: return "min_successful_modifications";
    case RequirementKey::max_violations_30d: return "max_violations_30d";
    case RequirementKey::requires_manual_review: return "requires_manual_review";
    case RequirementKey::requires_admin_approval: return "requires_admin_approval";
    case RequirementKey::description: return "description";
  }
  return "?";
}

std::optional<RequirementKey> requirement_key_from_name(std::string_view name) {
  for (RequirementKey k : kAllRequirementKeys) {
    if (name == requirement_key_name(k)) return k;
  }
  return std::nullopt;
}

const char* status_name(PromotionStatus status) {
  switch (status) {
    case PromotionStatus::eligible: return "ELIGIBLE";
    case PromotionStatus::not_eligible: return "NOT_ELIGIBLE";
    case PromotionStatus::pending_review: return "PENDING_REVIEW";
  }
  return "?";
}

void TierRequirements::set(RequirementKey key, RequirementValue value) {
  for (auto& [k, v] : entries_) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  entries_.emplace_back(key, std::move(value));
}

const RequirementValue* TierRequirements::find(RequirementKey key) const {
  for (const auto& [k, v] : entries_) {
    if (k == key) return &v;
  }
  return nullptr;
}

std::int64_t TierRequirements::get_int(RequirementKey key, std::int64_t fallback) const {
  const RequirementValue* v = find(key);
  const auto* i = v ? std::get_if<std::int64_t>(v) : nullptr;
  return i ? *i : fallback;
}

bool TierRequirements::get_bool(RequirementKey key) const {
  const RequirementValue* v = find(key);
  const auto* b = v ? std::get_if<bool>(v) : nullptr;
  return b ? *b : false;
}

const std::vector<std::string>& TierRequirements::action_types() const {
  static const std::vector<std::string> kNone;
  const RequirementValue* v = find(RequirementKey::required_action_types);
  const auto* list = v ? std::get_if<std::vector<std::string>>(v) : nullptr;
  return list ? *list : kNone;
}

Rules Rules::defaults() {
  using K = RequirementKey;
  using Types = std::vector<std::string>;
  Rules rules;
  TierRequirements t0;
  t0.set(K::min_compliant_runs, std::int64_t{5});
  t0.set(K::min_consecutive_compliant, std::int64_t{3});
  t0.set(K::required_action_types, Types{"generate_plan"});
  t0.set(K::max_violations_30d, std::int64_t{0});
  t0.set(K::description, std::string("5 compliant plan-only tasks, 3 consecutive, no violations"));
  rules.set_tier(0, std::move(t0));

  TierRequirements t1;
  t1.set(K::min_compliant_runs, std::int64_t{10});
  t1.set(K::min_consecutive_compliant, std::int64_t{5});
  t1.set(K::required_action_types, Types{"ansible_check", "terraform_plan"});
  t1.set(K::min_successful_modifications, std::int64_t{2});
  t1.set(K::max_violations_30d, std::int64_t{0});
  t1.set(K::description, std::string("10 compliant runs, 5 consecutive, 2+ mods, no violations"));
  rules.set_tier(1, std::move(t1));

  TierRequirements t2;
  t2.set(K::min_compliant_runs, std::int64_t{25});
  t2.set(K::min_consecutive_compliant, std::int64_t{10});
  t2.set(K::required_action_types, Types{"ansible_run", "terraform_apply"});
  t2.set(K::min_successful_modifications, std::int64_t{5});
  t2.set(K::max_violations_30d, std::int64_t{0});
  t2.set(K::requires_manual_review, true);
  t2.set(K::description, std::string("25 compliant runs, demonstrated complexity handling"));
  rules.set_tier(2, std::move(t2));

  TierRequirements t3;
  t3.set(K::min_compliant_runs, std::int64_t{50});
  t3.set(K::min_consecutive_compliant, std::int64_t{25});
  t3.set(K::requires_manual_review, true);
  t3.set(K::requires_admin_approval, true);
  t3.set(K::description,
         std::string("Rare, requires admin approval and extensive track record"));
  rules.set_tier(3, std::move(t3));
  return rules;
}

std::shared_ptr<const TierRequirements> Rules::for_tier(std::int64_t tier) const {
  if (tier < 0 || tier >= kRuleTiers) return nullptr;
  return tiers_[static_cast<std::size_t>(tier)];
}

void Rules::set_tier(std::int64_t tier, TierRequirements requirements) {
  assert(tier >= 0 && tier < kRuleTiers);
  tiers_[static_cast<std::size_t>(tier)] =
      std::make_shared<const TierRequirements>(std::move(requirements));
}

Evaluation evaluate_unknown_agent(std::string agent_id, WallTime now) {
  Evaluation e;
  e.agent_id = std::move(agent_id);
  e.current_tier = 0;
  e.target_tier = 1;
  e.status = PromotionStatus::not_eligible;
  e.requirements_missing = {"Agent not found in metrics"};
  e.recommendation = "Agent has no recorded activity";
  e.timestamp = format_isoformat_utc(now);
  return e;
}

// The body follows the reference line by line: the order of the checks is the order of
// requirements_met's keys and requirements_missing's sentences, which scripts compare.
Evaluation evaluate(std::shared_ptr<const AgentFacts> facts, const Rules& rules, WallTime now) {
  using K = RequirementKey;
  assert(facts && facts->current_tier >= 0 && facts->current_tier <= kMaxTier);
  const AgentFacts& f = *facts;
  Evaluation e;
  e.agent_id = f.agent_id;
  e.current_tier = f.current_tier;
  e.timestamp = format_isoformat_utc(now);

  if (f.current_tier + 1 > kMaxTier) {
    e.target_tier = f.current_tier;
    e.status = PromotionStatus::not_eligible;
    e.requirements_missing = {"Already at maximum tier"};
    e.recommendation = "Agent is at Tier 4 (maximum)";
    e.evidence.kind = Evidence::Kind::max_tier;
    e.evidence.current_tier = f.current_tier;
    return e;
  }
  e.target_tier = f.current_tier + 1;

  auto req = rules.for_tier(f.current_tier);
  if (!req) req = std::make_shared<const TierRequirements>();
  auto& met = e.requirements_met;
  auto& missing = e.requirements_missing;
  auto num = [](std::int64_t v) { return std::to_string(v); };

  const std::int64_t min_runs = req->get_int(K::min_compliant_runs, 0);
  if (f.compliant_runs >= min_runs) {
    met.emplace_back("compliant_runs", num(f.compliant_runs) + " >= " + num(min_runs));
  } else {
    missing.push_back("Need " + num(min_runs - f.compliant_runs) + " more compliant runs");
  }

  const std::int64_t min_consecutive = req->get_int(K::min_consecutive_compliant, 0);
  if (f.consecutive_compliant >= min_consecutive) {
    met.emplace_back("consecutive_compliant",
                     num(f.consecutive_compliant) + " >= " + num(min_consecutive));
  } else {
    missing.push_back("Need " + num(min_consecutive - f.consecutive_compliant) +
                      " more consecutive compliant runs");
  }

  const std::int64_t max_violations = req->get_int(K::max_violations_30d, 0);
  if (f.violations_30d <= max_violations) {
    met.emplace_back("violations_30d", num(f.violations_30d) + " <= " + num(max_violations));
  } else {
    missing.push_back("Too many violations (" + num(f.violations_30d) + " > " +
                      num(max_violations) + ")");
  }

  for (const std::string& type : req->action_types()) {
    const bool done =
        std::find(f.action_types.begin(), f.action_types.end(), type) != f.action_types.end();
    if (done) {
      // A Python dict assignment: a repeated key keeps its first position.
      const std::string key = "action_" + type;
      auto it = std::find_if(met.begin(), met.end(), [&](const auto& p) { return p.first == key; });
      if (it == met.end()) met.emplace_back(key, "Has performed " + type);
    } else {
      missing.push_back("Needs to perform action type: " + type);
    }
  }

  const std::int64_t min_mods = req->get_int(K::min_successful_modifications, 0);
  if (min_mods > 0) {
    if (f.successful_executions >= min_mods) {
      met.emplace_back("modifications", num(f.successful_executions) + " >= " + num(min_mods));
    } else {
      missing.push_back("Need " + num(min_mods - f.successful_executions) +
                        " more successful modifications");
    }
  }

  if (f.last_demotion_at) {
    const WallTime until = *f.last_demotion_at + std::chrono::hours(24 * rules.cooldown_days());
    if (now < until) {
      missing.push_back(kCooldownSentencePrefix + format_isoformat_utc(until));
    } else {
      met.emplace_back(kCooldownKey, "ended " + format_isoformat_utc(until));
    }
  }

  if (missing.empty()) {
    if (req->get_bool(K::requires_manual_review)) {
      e.status = PromotionStatus::pending_review;
      e.recommendation = "All automatic criteria met. Manual review required.";
    } else {
      e.status = PromotionStatus::eligible;
      e.recommendation = "Agent meets all promotion criteria";
    }
  } else {
    e.status = PromotionStatus::not_eligible;
    e.recommendation = "Agent needs to complete " + std::to_string(missing.size()) + " requirements";
  }

  e.evidence.kind = Evidence::Kind::full;
  e.evidence.facts = std::move(facts);
  e.evidence.requirements = std::move(req);
  return e;
}

}  // namespace ps::engine
