// The CLI next to a ServeEnv daemon: `policy-sidecar --config <the daemon's config> ...` with
// the emulator's address, CA and root token (and no crash point or Vault variable inherited
// from the test's environment).
#pragma once

#include <string>
#include <vector>

#include "tests/integration/serve/serve_harness.h"
#include "tests/support/test_support.h"

namespace ps::testing::revocation {

inline std::vector<std::string> cli_argv(const std::string& config,
                                         const std::vector<std::string>& args) {
  std::vector<std::string> a = {sidecar_binary(), "--config", config};
  a.insert(a.end(), args.begin(), args.end());
  return a;
}

inline std::vector<std::string> cli_env(serve::ServeEnv& env) {
  return {"VAULT_ADDR=" + env.vault_addr(), "VAULT_CACERT=" + env.ca(),
          std::string("VAULT_TOKEN=") + serve::ServeEnv::kRootToken, "PS_TEST_CRASH_AT=",
          "VAULT_NAMESPACE=", "VAULT_AGENT_ADDR="};
}

inline ProcessResult cli(serve::ServeEnv& env, const std::string& config,
                         const std::vector<std::string>& args) {
  return run_process(cli_argv(config, args), cli_env(env));
}

// The first reconcile pass (at start) has run: what the test changes afterwards is the
// daemon's reaction to it.
inline bool quiet_start(serve::ServeEnv& env) {
  return serve::ServeEnv::eventually(
      [&] {
        auto runs = env.metric("policy_sidecar_reconcile_runs_total{result=\"ok\"}");
        return runs && *runs >= 1;
      },
      std::chrono::seconds(120));
}

}  // namespace ps::testing::revocation
