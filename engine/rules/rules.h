// The promotion rules and the evaluation: a pure function of (facts, rules, now).
//
// This is the reference engine's evaluate_promotion() (tests/support/reference/
// promotion_engine.py) without its I/O: same statuses, requirement keys, sentences, order and
// recommendation, so a given ledger yields byte-identical evaluations. The differences are the
// reference's defects: sums over an empty 30-day window count as 0 (the reference crashes on
// NULL), and `now` is a parameter (the reference reads the clock inside SQL).
//
// No SQLite, HTTP or OpenSSL here; the ledger adapter (engine/ledger.h) produces AgentFacts.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "engine/rules/timestamp.h"
#include "engine/rules/value.h"

namespace ps::engine {

inline constexpr std::int64_t kMaxTier = 4;   // tiers are T0..T4
inline constexpr std::int64_t kRuleTiers = 4;  // rules exist for promotions from T0..T3

// The keys of one PROMOTION_REQUIREMENTS entry.
enum class RequirementKey {
  min_compliant_runs,
  min_consecutive_compliant,
  required_action_types,
  min_successful_modifications,
  max_violations_30d,
  requires_manual_review,
  requires_admin_approval,
  description,
};
const char* requirement_key_name(RequirementKey key);
std::optional<RequirementKey> requirement_key_from_name(std::string_view name);
inline constexpr std::array<RequirementKey, 8> kAllRequirementKeys = {
    RequirementKey::min_compliant_runs,        RequirementKey::min_consecutive_compliant,
    RequirementKey::required_action_types,     RequirementKey::min_successful_modifications,
    RequirementKey::max_violations_30d,        RequirementKey::requires_manual_review,
    RequirementKey::requires_admin_approval,   RequirementKey::description};

using RequirementValue = std::variant<std::int64_t, bool, std::string, std::vector<std::string>>;

// The requirements for promotion from one tier, as an insertion-ordered dict like the
// reference's: absent keys read as the reference's .get() defaults, and the evidence JSON
// lists the present keys in order. Values are validated by whoever builds them
// (engine/rules_config.h): integers are non-negative, each key holds its own type.
class TierRequirements {
 public:
  // dict[key] = value: replaces in place, or appends a new key at the end.
  void set(RequirementKey key, RequirementValue value);
  const RequirementValue* find(RequirementKey key) const;
  const std::vector<std::pair<RequirementKey, RequirementValue>>& entries() const {
    return entries_;
  }

  // requirements.get(key, fallback) for each type.
  std::int64_t get_int(RequirementKey key, std::int64_t fallback) const;
  bool get_bool(RequirementKey key) const;  // fallback false
  const std::vector<std::string>& action_types() const;  // fallback []

 private:
  std::vector<std::pair<RequirementKey, RequirementValue>> entries_;
};

// The rules table, keyed by the tier promoted FROM (0..3). Immutable once shared.
class Rules {
 public:
  // The reference engine's PROMOTION_REQUIREMENTS.
  static Rules defaults();

  // nullptr for tiers without rules (outside 0..3).
  std::shared_ptr<const TierRequirements> for_tier(std::int64_t tier) const;
  void set_tier(std::int64_t tier, TierRequirements requirements);  // REQUIRES: 0 <= tier < 4

  // No promotion for this many days after a sidecar demotion (revocation.cooldown_days).
  std::int64_t cooldown_days() const { return cooldown_days_; }
  void set_cooldown_days(std::int64_t days) { cooldown_days_ = days; }

 private:
  std::array<std::shared_ptr<const TierRequirements>, kRuleTiers> tiers_;
  std::int64_t cooldown_days_ = 7;
};

// The agent_metrics row as read, every column in table order (shown as evidence.metrics).
struct MetricsRow {
  std::shared_ptr<const std::vector<std::string>> columns;
  std::vector<SqlValue> values;
};

// Everything the rules look at for one agent. Produced by the ledger adapter, which
// guarantees: 0 <= current_tier <= 4, counters >= 0, window sums with NULL counted as 0.
struct AgentFacts {
  std::string agent_id;
  std::int64_t current_tier = 0;
  std::int64_t compliant_runs = 0;
  std::int64_t consecutive_compliant = 0;
  MetricsRow metrics;
  // Over the 30-day window (datetime(timestamp) >= datetime(now, '-30 days')):
  std::int64_t total_actions = 0;
  std::int64_t successful_actions = 0;     // success = 1
  std::int64_t successful_executions = 0;  // decision = 'EXECUTE' AND success = 1
  std::vector<std::string> action_types;   // distinct, in order of first appearance (rowid)
  std::int64_t violations_30d = 0;
  // The newest sidecar demotion of the agent (sidecar_demotions, any source), when there is
  // one: the cooldown requirement appears only then, so evaluations of every other agent stay
  // byte-identical to the reference's.
  std::optional<WallTime> last_demotion_at;
};

// The cooldown requirement's key in requirements_met, and how its sentence in
// requirements_missing begins: "Cooldown after demotion until <isoformat>".
inline constexpr const char* kCooldownKey = "cooldown_after_demotion";
inline constexpr const char* kCooldownSentencePrefix = "Cooldown after demotion until ";

enum class PromotionStatus { eligible, not_eligible, pending_review };
const char* status_name(PromotionStatus status);  // "ELIGIBLE", "NOT_ELIGIBLE", ...
inline bool is_promotable(PromotionStatus s) {
  return s == PromotionStatus::eligible || s == PromotionStatus::pending_review;
}

// What the reference puts in `evidence`: {} for an unknown agent, {"current_tier": n} at the
// maximum tier, otherwise {"metrics", "history", "requirements"} built from the facts.
struct Evidence {
  enum class Kind { empty, max_tier, full };
  Kind kind = Kind::empty;
  std::int64_t current_tier = 0;
  std::shared_ptr<const AgentFacts> facts;
  std::shared_ptr<const TierRequirements> requirements;
};

struct Evaluation {
  std::string agent_id;
  std::int64_t current_tier = 0;
  std::int64_t target_tier = 0;
  PromotionStatus status = PromotionStatus::not_eligible;
  std::vector<std::pair<std::string, std::string>> requirements_met;  // in the reference's order
  std::vector<std::string> requirements_missing;
  std::string recommendation;
  Evidence evidence;
  std::string timestamp;  // format_isoformat_utc(now)
};

// The evaluation of an agent with an agent_metrics row. REQUIRES: facts != nullptr and the
// adapter's guarantees above.
Evaluation evaluate(std::shared_ptr<const AgentFacts> facts, const Rules& rules, WallTime now);

// The evaluation of an agent without an agent_metrics row ("Agent not found in metrics").
Evaluation evaluate_unknown_agent(std::string agent_id, WallTime now);

}  // namespace ps::engine
