// The periodic evaluation (evaluate.interval_s): evaluates every agent with the rules in
// effect, reports the counts (TierChangeEvents::on_evaluation_done), and - with
// evaluate.auto_promote - asks the tier-change service to promote the agents whose next step
// needs neither manual review nor admin approval.
//
// The scan is one read transaction; promotions happen after it (a write from inside the scan
// would wait for the scan's own read lock in rollback-journal mode). It holds no write
// transaction or hook of its own.
#pragma once

#include <string>

#include "engine/base/clock.h"
#include "engine/base/status.h"
#include "sidecar/config/log.h"
#include "sidecar/config/settings.h"
#include "sidecar/sync/events.h"
#include "sidecar/sync/ledger_pool.h"
#include "sidecar/sync/tier_change_service.h"

namespace ps::sidecar {

class Evaluator {
 public:
  Evaluator(LedgerPool& ledgers, const SettingsStore& settings, TierChangeService& tier_changes,
            Clock& clock, Logger& log, TierChangeEvents& events)
      : ledgers_(ledgers),
        settings_(settings),
        tier_changes_(tier_changes),
        clock_(clock),
        log_(log),
        events_(events) {}

  // One pass. Errors: the ledger could not be read.
  Result<EvaluationPass> run_once(bool auto_promote);

 private:
  LedgerPool& ledgers_;
  const SettingsStore& settings_;
  TierChangeService& tier_changes_;
  Clock& clock_;
  Logger& log_;
  TierChangeEvents& events_;
};

}  // namespace ps::sidecar
