// Test-only crash points. The crash-safety harness (tests/integration/sync) needs SIGKILL to
// land inside windows a few microseconds wide (between the ledger commit and the push, during
// the push, between the push and marking the row). The real binary builds its Checkpoint from
// the environment variable PS_TEST_CRASH_AT, which only tests set:
//
//   PS_TEST_CRASH_AT=<point>:<n>   SIGKILL this process the n-th time <point> is reached
//
// Unset (production), the checkpoint is empty and never called. Points: outbox.before_commit
// (inside a tier change's transaction), sync.after_claim, sync.after_write,
// sync.before_finish.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "sidecar/sync/outbox_hook.h"  // Checkpoint

namespace ps::sidecar {

// The checkpoint for `spec` (the value of PS_TEST_CRASH_AT); an empty Checkpoint when `spec`
// is unset or empty. invalid specs are ignored (never crash on a typo).
Checkpoint crash_checkpoint(const std::optional<std::string>& spec);

}  // namespace ps::sidecar
