#include "sidecar/cli/output.h"

#include "engine/rules/evaluation_json.h"
#include "engine/rules/pyjson.h"

namespace ps::sidecar {
namespace {

using engine::PyJsonWriter;

const std::string kRule(60, '=');
constexpr const char* kArrow = " \xE2\x86\x92 ";  // " → "

void line(std::string& out, const std::string& text) {
  out += text;
  out += '\n';
}

// Python truthiness of a ledger value (the reference's `if p['rationale']:`).
bool truthy(const engine::SqlValue& v) {
  if (engine::is_null(v)) return false;
  if (const auto* i = std::get_if<std::int64_t>(&v)) return *i != 0;
  if (const auto* d = std::get_if<double>(&v)) return *d != 0.0;
  return !std::get<std::string>(v).empty();
}

}  // namespace

void evaluation_text(std::string& out, const engine::Evaluation& e) {
  line(out, "\n" + kRule);
  line(out, "PROMOTION EVALUATION");
  line(out, kRule);
  line(out, "Agent: " + e.agent_id);
  line(out, "Current Tier: " + std::to_string(e.current_tier));
  line(out, "Target Tier: " + std::to_string(e.target_tier));
  line(out, std::string("Status: ") + engine::status_name(e.status));
  line(out, "");
  line(out, "Requirements Met:");
  for (const auto& [key, value] : e.requirements_met) line(out, "  [OK] " + key + ": " + value);
  if (!e.requirements_missing.empty()) {
    line(out, "\nRequirements Missing:");
    for (const std::string& req : e.requirements_missing) line(out, "  [X] " + req);
  }
  line(out, "\nRecommendation: " + e.recommendation);
  line(out, kRule);
}

void evaluation_json(std::string& out, const engine::Evaluation& e) {
  PyJsonWriter w(out, PyJsonWriter::Style::indent2);
  engine::write_evaluation(w, e);
  out += '\n';
}

EligibleWriter::EligibleWriter(Sink sink, bool json)
    : sink_(std::move(sink)), json_(json), writer_(buf_, PyJsonWriter::Style::indent2) {
  buf_.reserve(kChunk + kChunk / 4);
  if (json_) {
    writer_.begin_array();
  } else {
    line(buf_, "\n" + kRule);
    line(buf_, "AGENTS ELIGIBLE FOR PROMOTION");
    line(buf_, kRule);
  }
}

void EligibleWriter::flush_if_full() {
  if (buf_.size() < kChunk) return;
  sink_(buf_);
  buf_.clear();
}

void EligibleWriter::add(const engine::Evaluation& e) {
  ++count_;
  if (json_) {
    engine::write_evaluation(writer_, e);
  } else {
    const char* icon = e.status == engine::PromotionStatus::eligible ? "[READY]" : "[REVIEW]";
    line(buf_, std::string("\n") + icon + " " + e.agent_id);
    line(buf_, "  Tier " + std::to_string(e.current_tier) + kArrow + "Tier " +
                   std::to_string(e.target_tier));
    line(buf_, "  " + e.recommendation);
  }
  flush_if_full();
}

void EligibleWriter::end() {
  if (json_) {
    writer_.end_array();
    buf_ += '\n';
  } else {
    if (count_ == 0) line(buf_, "No agents currently eligible for promotion");
    line(buf_, kRule);
  }
  sink_(buf_);
  buf_.clear();
}

void history_text(std::string& out, const engine::PromotionHistory& history) {
  line(out, "\n" + kRule);
  line(out, "PROMOTION HISTORY");
  line(out, kRule);
  if (history.rows.empty()) {
    line(out, "No promotion history found");
  } else {
    auto col = [&](const std::vector<engine::SqlValue>& row, std::string_view name) {
      for (std::size_t i = 0; i < history.columns.size(); ++i) {
        if (history.columns[i] == name) return row[i];
      }
      return engine::SqlValue{};
    };
    for (const auto& row : history.rows) {
      out += '\n';  // not "\n" + py_str(...): a GCC 12 -Wrestrict false positive at -O3
      line(out, engine::py_str(col(row, "timestamp")));
      line(out, "  " + engine::py_str(col(row, "agent_id")) + ": Tier " +
                    engine::py_str(col(row, "from_tier")) + kArrow + "Tier " +
                    engine::py_str(col(row, "to_tier")));
      line(out, "  Approved by: " + engine::py_str(col(row, "approved_by")));
      const engine::SqlValue rationale = col(row, "rationale");
      if (truthy(rationale)) line(out, "  Rationale: " + engine::py_str(rationale));
    }
  }
  line(out, kRule);
}

void history_json(std::string& out, const engine::PromotionHistory& history) {
  PyJsonWriter w(out, PyJsonWriter::Style::indent2);
  w.begin_array();
  for (const auto& row : history.rows) {
    w.begin_object();
    for (std::size_t i = 0; i < history.columns.size(); ++i) {
      w.key(history.columns[i]);
      w.value(row[i]);
    }
    w.end_object();
  }
  w.end_array();
  out += '\n';
}

void requirements_text(std::string& out, const engine::Rules& rules,
                       std::optional<std::int64_t> tier) {
  using K = engine::RequirementKey;
  line(out, "\n" + kRule);
  line(out, "PROMOTION REQUIREMENTS");
  line(out, kRule);
  std::vector<std::int64_t> tiers;
  if (tier) {
    tiers.push_back(*tier);
  } else {
    for (std::int64_t t = 0; t < engine::kRuleTiers; ++t) tiers.push_back(t);
  }
  const engine::TierRequirements none;
  for (std::int64_t t : tiers) {
    const auto found = rules.for_tier(t);
    const engine::TierRequirements& req = found ? *found : none;
    // req.get(key, 'N/A'): the value as Python prints it, or N/A when absent.
    auto shown = [&](K key) -> std::string {
      const engine::RequirementValue* v = req.find(key);
      if (!v) return "N/A";
      if (const auto* i = std::get_if<std::int64_t>(v)) return std::to_string(*i);
      if (const auto* b = std::get_if<bool>(v)) return *b ? "True" : "False";
      if (const auto* s = std::get_if<std::string>(v)) return *s;
      return "N/A";
    };
    line(out, "\nTier " + std::to_string(t) + kArrow + "Tier " + std::to_string(t + 1) + ":");
    const engine::RequirementValue* desc = req.find(K::description);
    line(out, "  " + (desc ? std::get<std::string>(*desc) : std::string("No description")));
    line(out, "  - Min compliant runs: " + shown(K::min_compliant_runs));
    line(out, "  - Min consecutive: " + shown(K::min_consecutive_compliant));
    line(out, "  - Max violations (30d): " + shown(K::max_violations_30d));
    if (req.get_bool(K::requires_manual_review)) line(out, "  - Requires manual review: Yes");
    if (req.get_bool(K::requires_admin_approval)) line(out, "  - Requires admin approval: Yes");
  }
  line(out, kRule);
}

}  // namespace ps::sidecar
