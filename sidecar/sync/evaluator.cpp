#include "sidecar/sync/evaluator.h"

#include <chrono>
#include <utility>
#include <vector>

namespace ps::sidecar {

Result<EvaluationPass> Evaluator::run_once(bool auto_promote) {
  const auto start = clock_.steady_now();
  auto settings = settings_.get();
  EvaluationPass pass;
  std::vector<std::pair<std::string, std::int64_t>> candidates;  // agent, current tier
  {
    auto lease = ledgers_.acquire();
    if (!lease.ok()) return lease.status();
    const auto now = clock_.wall_now();
    const Status s = lease->ledger().scan_agents(now, [&](engine::AgentScanItem&& item) {
      if (item.problem) {
        ++pass.invalid;
        return;
      }
      const engine::Evaluation e = engine::evaluate(std::move(item.facts), *settings->rules, now);
      switch (e.status) {
        case engine::PromotionStatus::eligible:
          ++pass.eligible;
          if (auto_promote && !TierChangeService::needs_person(*settings->rules, e.current_tier)) {
            candidates.emplace_back(e.agent_id, e.current_tier);
          }
          break;
        case engine::PromotionStatus::pending_review: ++pass.pending_review; break;
        case engine::PromotionStatus::not_eligible: ++pass.not_eligible; break;
      }
    });
    if (!s.ok()) {
      lease->discard();
      return s;
    }
  }
  for (const auto& [agent, tier] : candidates) {
    auto record = tier_changes_.promote_automatically(agent, tier);
    if (record.ok()) {
      ++pass.auto_promoted;
    } else {
      ++pass.auto_refused;
      log_.info("promotion.auto_refused", record.status().message(), {{"agent_id", agent}});
    }
  }
  pass.seconds = std::chrono::duration<double>(clock_.steady_now() - start).count();
  events_.on_evaluation_done(pass);
  log_.info("evaluate.done", "periodic evaluation finished",
            {{"eligible", pass.eligible}, {"pending_review", pass.pending_review},
             {"not_eligible", pass.not_eligible}, {"invalid", pass.invalid},
             {"auto_promoted", pass.auto_promoted}});
  return pass;
}

}  // namespace ps::sidecar
