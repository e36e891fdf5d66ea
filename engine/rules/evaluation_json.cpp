#include "engine/rules/evaluation_json.h"

namespace ps::engine {

void write_requirements(PyJsonWriter& w, const TierRequirements& req) {
  w.begin_object();
  for (const auto& [key, value] : req.entries()) {
    w.key(requirement_key_name(key));
    if (const auto* i = std::get_if<std::int64_t>(&value)) {
      w.integer(*i);
    } else if (const auto* b = std::get_if<bool>(&value)) {
      w.boolean(*b);
    } else if (const auto* s = std::get_if<std::string>(&value)) {
      w.string(*s);
    } else {
      w.begin_array();
      for (const std::string& t : std::get<std::vector<std::string>>(value)) w.string(t);
      w.end_array();
    }
  }
  w.end_object();
}

void write_evidence(PyJsonWriter& w, const Evidence& evidence) {
  w.begin_object();
  if (evidence.kind == Evidence::Kind::max_tier) {
    w.key("current_tier");
    w.integer(evidence.current_tier);
  } else if (evidence.kind == Evidence::Kind::full) {
    const AgentFacts& f = *evidence.facts;
    w.key("metrics");
    w.begin_object();
    const auto& columns = *f.metrics.columns;
    for (std::size_t i = 0; i < columns.size(); ++i) {
      w.key(columns[i]);
      w.value(f.metrics.values[i]);
    }
    w.end_object();

    w.key("history");
    w.begin_object();
    w.key("total_actions");
    w.integer(f.total_actions);
    w.key("successful_actions");
    w.integer(f.successful_actions);
    w.key("successful_executions");
    w.integer(f.successful_executions);
    w.key("action_types");
    w.begin_array();
    for (const std::string& t : f.action_types) w.string(t);
    w.end_array();
    w.key("violations_30d");
    w.integer(f.violations_30d);
    w.end_object();

    w.key("requirements");
    write_requirements(w, *evidence.requirements);
  }
  w.end_object();
}

void write_evaluation(PyJsonWriter& w, const Evaluation& e) {
  w.begin_object();
  w.key("agent_id");
  w.string(e.agent_id);
  w.key("current_tier");
  w.integer(e.current_tier);
  w.key("target_tier");
  w.integer(e.target_tier);
  w.key("status");
  w.string(status_name(e.status));
  w.key("requirements_met");
  w.begin_object();
  for (const auto& [k, v] : e.requirements_met) {
    w.key(k);
    w.string(v);
  }
  w.end_object();
  w.key("requirements_missing");
  w.begin_array();
  for (const std::string& m : e.requirements_missing) w.string(m);
  w.end_array();
  w.key("recommendation");
  w.string(e.recommendation);
  w.key("evidence");
  write_evidence(w, e.evidence);
  w.key("timestamp");
  w.string(e.timestamp);
  w.end_object();
}

std::string evidence_json_compact(const Evidence& evidence) {
  std::string out;
  PyJsonWriter w(out, PyJsonWriter::Style::compact);
  write_evidence(w, evidence);
  return out;
}

}  // namespace ps::engine
