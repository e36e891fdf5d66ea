#include "sidecar/cli/tier_changes.h"

#include "sidecar/sync/checkpoint.h"
#include "sidecar/sync/desired_state.h"

namespace ps::sidecar {

Result<std::unique_ptr<CliTierChanges>> CliTierChanges::open(const Config& config,
                                                             const engine::LedgerOptions& ledger,
                                                             const CliEnvironment& env) {
  auto desired = DesiredState::create(config.roles, config.vault.mount);
  if (!desired.ok()) return desired.status();
  std::unique_ptr<CliTierChanges> t(new CliTierChanges());
  auto settings = std::make_shared<ServeSettings>();
  settings->rules = std::make_shared<const engine::Rules>(config.rules);
  // The config's revocation section (rules, batch, Vault-side steps): revoke-scan, freeze,
  // demote and the promotion guard decide as the daemon does.
  settings->revocation = config.revocation;
  t->settings_ = std::make_unique<SettingsStore>(std::move(settings));
  t->pool_ = std::make_unique<LedgerPool>(ledger, 1);
  TierChangeServiceDeps deps{*t->pool_, *t->settings_, env.clock, t->events_};
  deps.checkpoint = crash_checkpoint(env.getenv("PS_TEST_CRASH_AT"));
  t->service_ = std::make_unique<TierChangeService>(std::move(deps), *desired);
  return t;
}

}  // namespace ps::sidecar
