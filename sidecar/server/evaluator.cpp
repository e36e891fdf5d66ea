#include "sidecar/server/evaluator.h"

#include <string>
#include <utility>
#include <vector>

namespace ps::sidecar::server {

engine::Result<EvaluationPass> Evaluator::run_once(bool auto_promote) {
  const auto start = clock_.steady_now();
  auto settings = settings_.get();
  EvaluationPass pass;
  std::vector<std::pair<std::string, std::int64_t>> candidates;  // agent, current tier
  {
    auto lease = ledgers_.acquire();
    if (!lease.ok()) return lease.status();
    const auto now = clock_.wall_now();
    const engine::Status s = lease->ledger().scan_agents(now, [&](engine::AgentScanItem&& item) {
      if (item.problem) {
        ++pass.invalid;
        return;
      }
      const engine::Evaluation e = engine::evaluate(std::move(item.facts), *settings->rules, now);
      switch (e.status) {
        case engine::PromotionStatus::eligible: {
          ++pass.eligible;
          auto req = settings->rules->for_tier(e.current_tier);
          const bool needs_person =
              req && (req->get_bool(engine::RequirementKey::requires_manual_review) ||
                      req->get_bool(engine::RequirementKey::requires_admin_approval));
          if (auto_promote && !needs_person) candidates.emplace_back(e.agent_id, e.current_tier);
          break;
        }
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
    auto record = promoter_.promote_automatically(agent, tier);
    if (record.ok()) {
      ++pass.auto_promoted;
    } else {
      ++pass.auto_refused;
      log_.info("promotion.auto_refused", record.status().message(), {{"agent_id", agent}});
    }
  }
  if (pass.auto_promoted > 0 && on_promoted_) on_promoted_();
  if (metrics_) {
    metrics_->agents.set({"eligible"}, static_cast<double>(pass.eligible));
    metrics_->agents.set({"pending_review"}, static_cast<double>(pass.pending_review));
    metrics_->agents.set({"not_eligible"}, static_cast<double>(pass.not_eligible));
    metrics_->agents.set({"invalid"}, static_cast<double>(pass.invalid));
    metrics_->evaluation_duration.observe(
        std::chrono::duration<double>(clock_.steady_now() - start).count());
  }
  log_.info("evaluate.done", "periodic evaluation finished",
            {{"eligible", pass.eligible}, {"pending_review", pass.pending_review},
             {"not_eligible", pass.not_eligible}, {"invalid", pass.invalid},
             {"auto_promoted", pass.auto_promoted}});
  return pass;
}

}  // namespace ps::sidecar::server
