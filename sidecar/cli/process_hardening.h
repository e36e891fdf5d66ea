// Process-wide hardening of the policy-sidecar executable: secrets out of the environment and
// out of core files.
//
// Who calls it: main.cpp (take_environment_secret, before anything else reads the
// environment) and run_serve_command (disable_core_dumps, before any thread or secret exists).
// Not thread-safe: both touch process-global state and run while the process has one thread.
#pragma once

#include <optional>
#include <string>

#include "engine/base/status.h"

namespace ps::sidecar {

// The value of environment variable `name` (nullopt when unset), then removed from the
// environment: unsetenv, and the original "NAME=value" bytes overwritten with zeros, so
// neither a child process nor a reader of /proc/<pid>/environ sees it.
std::optional<std::string> take_environment_secret(const char* name);

// RLIMIT_CORE 0 (soft and hard) and prctl(PR_SET_DUMPABLE, 0) (no core file, no ptrace by
// other processes of the same user, /proc/<pid>/mem closed to them). Either call failing is
// an error (internal, naming the call and errno); the caller refuses to start.
Status disable_core_dumps();

}  // namespace ps::sidecar
