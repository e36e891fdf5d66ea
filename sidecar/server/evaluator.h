// The periodic evaluation (evaluate.interval_s): evaluates every agent with the rules in
// effect, publishes the counts (policy_sidecar_agents{status}), and - with
// evaluate.auto_promote - promotes the agents whose next tier needs neither manual review nor
// admin approval (ELIGIBLE, rules without requires_manual_review / requires_admin_approval),
// with approved_by "policy-sidecar:auto" through the webhook's promote + outbox path.
//
// The scan is one read transaction; promotions happen after it (a write from inside the scan
// would wait for the scan's own read lock in rollback-journal mode).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "engine/status.h"
#include "sidecar/log.h"
#include "sidecar/server/approval.h"
#include "sidecar/server/ledger_pool.h"
#include "sidecar/server/serve_metrics.h"
#include "sidecar/server/settings.h"
#include "vault/clock.h"

namespace ps::sidecar::server {

struct EvaluationPass {
  std::int64_t eligible = 0;
  std::int64_t pending_review = 0;
  std::int64_t not_eligible = 0;
  std::int64_t invalid = 0;
  std::int64_t auto_promoted = 0;
  std::int64_t auto_refused = 0;  // lost a race or stopped qualifying in the transaction
};

class Evaluator {
 public:
  Evaluator(LedgerPool& ledgers, const SettingsStore& settings, ApprovalProcessor& promoter,
            Clock& clock, Logger& log, ServeMetrics* metrics,
            std::function<void()> on_promoted = {})
      : ledgers_(ledgers),
        settings_(settings),
        promoter_(promoter),
        clock_(clock),
        log_(log),
        metrics_(metrics),
        on_promoted_(std::move(on_promoted)) {}

  // One pass. Errors: the ledger could not be read.
  engine::Result<EvaluationPass> run_once(bool auto_promote);

 private:
  LedgerPool& ledgers_;
  const SettingsStore& settings_;
  ApprovalProcessor& promoter_;
  Clock& clock_;
  Logger& log_;
  ServeMetrics* metrics_;
  std::function<void()> on_promoted_;
};

}  // namespace ps::sidecar::server
