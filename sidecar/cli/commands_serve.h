// `policy-sidecar serve --config FILE`: runs the daemon (sidecar/server/daemon.h) in the
// foreground until SIGTERM/SIGINT. Called from sidecar/commands.cpp's dispatch.
#pragma once

#include <string>

#include "sidecar/cli/commands.h"  // CliEnvironment, exit statuses
#include "sidecar/config/config.h"

namespace ps::sidecar {

struct ServeContext {
  const CliEnvironment& env;
  const Config& config;
  const std::string* config_path;  // null when --config was not given (refused)
  std::string db_path;
  bool db_from_config = true;  // false when --db or POLICY_SIDECAR_DB chose the ledger
};

// Exit statuses: 0 after a clean shutdown, 2 for configuration errors (including secret files
// that are too open), 1 when the daemon cannot start (ledger, port, TLS files) or fails.
int run_serve_command(const ServeContext& ctx);

}  // namespace ps::sidecar
