// `policy-sidecar check` (the checks themselves: sidecar/cli/preflight.*).
#include <nlohmann/json.hpp>

#include "sidecar/cli/cli_common.h"
#include "sidecar/cli/commands_sync.h"
#include "sidecar/cli/preflight.h"

namespace ps::sidecar {

int run_sync_command(const SyncContext& ctx, const CheckCommand& cmd) {
  if (cmd.policy) {
    auto hcl = sidecar_policy_hcl(ctx.config);
    if (!hcl.ok()) return cli::fail(ctx.env, hcl.status().message(), kExitConfig);
    ctx.env.out << *hcl << std::flush;
    return kExitOk;
  }
  const auto checks = run_preflight({ctx.config, ctx.db_path, ctx.env, cmd.offline});
  int failed = 0, warned = 0;
  for (const auto& c : checks) {
    failed += c.level == CheckItem::Level::fail;
    warned += c.level == CheckItem::Level::warn;
  }
  if (cmd.json) {
    nlohmann::ordered_json j;
    j["ok"] = failed == 0;
    j["offline"] = cmd.offline;
    j["checks"] = nlohmann::ordered_json::array();
    for (const auto& c : checks) {
      j["checks"].push_back({{"name", c.name}, {"status", to_string(c.level)}, {"detail", c.detail}});
    }
    ctx.env.out << j.dump(2) << std::endl;
  } else {
    for (const auto& c : checks) {
      ctx.env.out << (c.level == CheckItem::Level::ok     ? "[ok]   "
                      : c.level == CheckItem::Level::warn ? "[warn] "
                                                          : "[FAIL] ")
                  << c.name << ": " << c.detail << '\n';
    }
    ctx.env.out << "check: " << checks.size() - static_cast<std::size_t>(failed + warned)
                << " ok, " << warned << " warnings, " << failed << " failed"
                << (cmd.offline ? " (offline: Vault not contacted)" : "") << std::endl;
  }
  return failed == 0 ? kExitOk : kExitFailed;
}

}  // namespace ps::sidecar
