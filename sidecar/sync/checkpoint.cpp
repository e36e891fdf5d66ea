#include "sidecar/sync/checkpoint.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <memory>

namespace ps::sidecar {

Checkpoint crash_checkpoint(const std::optional<std::string>& spec) {
  if (!spec || spec->empty()) return {};
  const auto colon = spec->rfind(':');
  if (colon == std::string::npos || colon == 0) return {};
  long n = 0;
  for (char c : spec->substr(colon + 1)) {
    if (c < '0' || c > '9' || n > 1000000) return {};
    n = n * 10 + (c - '0');
  }
  if (n <= 0) return {};
  auto hits = std::make_shared<std::atomic<long>>(0);
  return [point = spec->substr(0, colon), n, hits](std::string_view at) {
    if (at != point) return;
    if (hits->fetch_add(1) + 1 == n) ::kill(::getpid(), SIGKILL);
  };
}

}  // namespace ps::sidecar
