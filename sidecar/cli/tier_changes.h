// The tier-change service as the CLI's promote and demote use it: a ledger pool on the ledger
// file, the config's rules and role mapping, no reporting (the commands print their own
// outcome), no wake-up (the push is left to `policy-sidecar sync`), and the test-only crash
// points from PS_TEST_CRASH_AT (sidecar/sync/checkpoint.h).
#pragma once

#include <memory>

#include "engine/ledger/ledger.h"
#include "sidecar/cli/commands.h"
#include "sidecar/config/config.h"
#include "sidecar/config/settings.h"
#include "sidecar/sync/events.h"
#include "sidecar/sync/ledger_pool.h"
#include "sidecar/sync/tier_change_service.h"

namespace ps::sidecar {

class CliTierChanges {
 public:
  // invalid_argument when the roles section is unusable (a usage error for the commands).
  static Result<std::unique_ptr<CliTierChanges>> open(const Config& config,
                                                      const engine::LedgerOptions& ledger,
                                                      const CliEnvironment& env);
  TierChangeService& service() { return *service_; }

 private:
  CliTierChanges() = default;
  std::unique_ptr<LedgerPool> pool_;
  std::unique_ptr<SettingsStore> settings_;
  NoTierChangeEvents events_;
  std::unique_ptr<TierChangeService> service_;
};

}  // namespace ps::sidecar
