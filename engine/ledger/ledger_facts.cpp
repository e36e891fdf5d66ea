// Fact queries: the agent_metrics row, the 30-day window over agent_actions and violations,
// and the checks for data that breaks the upstream contract.
#include "engine/ledger/ledger.h"
#include "engine/ledger/ledger_sql.h"
#include "engine/ledger/ledger_rows.h"
#include "engine/ledger/window_aggregate.h"

namespace ps::engine {

using namespace rows;

Result<std::shared_ptr<const AgentFacts>> Ledger::load_agent_facts(std::string_view agent_id,
                                                                   const std::string& now_iso) {
  auto metrics = conn_->prepare(sql::kMetricsOne);
  if (!metrics.ok()) return metrics.status();
  metrics->bind(2, agent_id);
  auto row = metrics->step();
  if (!row.ok()) return row.status();
  if (!*row) return std::shared_ptr<const AgentFacts>{};
  ParsedMetrics parsed = parse_metrics_row(*metrics, layout_of(*metrics));
  if (!parsed.problem.empty()) return Status(Code::invalid_data, parsed.problem);
  AgentFacts& f = *parsed.facts;

  for (const TimestampCheck& check : kTimestampChecks) {
    auto bad = conn_->prepare(check.one);
    if (!bad.ok()) return bad.status();
    bad->bind(2, agent_id);
    auto hit = bad->step();
    if (!hit.ok()) return hit.status();
    if (*hit) {
      return Status(Code::invalid_data, bad_timestamp_problem(agent_id, check.table,
                                                              bad->column_int(1),
                                                              bad->column_value(2)));
    }
  }

  auto actions = conn_->prepare(sql::kWindowActionsOne);
  if (!actions.ok()) return actions.status();
  actions->bind(1, std::string_view(now_iso)).bind(2, agent_id);
  WindowAggregate window(1);
  for (;;) {
    auto r = actions->step();
    if (!r.ok()) return r.status();
    if (!*r) break;
    window.add(0, actions->column_text(1), actions->column_int(2) != 0,
               actions->column_int(3) != 0, actions->column_int(4));
  }
  window.finish(0, f);

  auto violations = conn_->prepare(sql::kWindowViolationsOne);
  if (!violations.ok()) return violations.status();
  violations->bind(1, std::string_view(now_iso)).bind(2, agent_id);
  auto v = violations->step();
  if (!v.ok()) return v.status();
  f.violations_30d = violations->column_int(1);
  auto demoted = read_last_demotions(*conn_, agent_id);
  if (!demoted.ok()) return demoted.status();
  if (auto it = demoted->find(agent_id); it != demoted->end()) f.last_demotion_at = it->second;
  return std::shared_ptr<const AgentFacts>(std::move(parsed.facts));
}

Result<std::shared_ptr<const AgentFacts>> Ledger::agent_facts(std::string_view agent_id,
                                                              WallTime now) {
  auto tx = sqlite::Transaction::begin(*conn_, sqlite::Transaction::Kind::read);
  if (!tx.ok()) return tx.status();
  auto facts = load_agent_facts(agent_id, format_isoformat_utc(now));
  if (!facts.ok()) return facts;
  if (Status s = tx->commit(); !s.ok()) return s;
  return facts;
}

Result<std::optional<std::int64_t>> Ledger::current_tier(std::string_view agent_id) {
  auto stmt = conn_->prepare("SELECT current_tier FROM agent_metrics WHERE agent_id = ?1");
  if (!stmt.ok()) return stmt.status();
  stmt->bind(1, agent_id);
  auto row = stmt->step();
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<std::int64_t>{};
  const std::int64_t tier = stmt->column_int(0);
  if (!stmt->column_is_integer(0) || tier < 0 || tier > kMaxTier) {
    return Status(Code::invalid_data, "agent " + quoted(agent_id) + ": current_tier = " +
                                          describe(stmt->column_value(0)) +
                                          " (must be an integer 0..4)");
  }
  return std::optional<std::int64_t>{tier};
}

}  // namespace ps::engine
