// Signals handled synchronously: SIGHUP, SIGTERM and SIGINT are blocked in every thread and
// taken with sigtimedwait() by the daemon's control loop, so no work ever runs in a signal
// handler. SIGPIPE is ignored (a client that hangs up must not kill the process).
//
// REQUIRES: block() runs before the process starts any thread (threads inherit the mask).
#pragma once

#include <chrono>
#include <optional>

namespace ps::sidecar::server {

enum class ControlSignal { reload, terminate };

class SignalWaiter {
 public:
  // Blocks the signals in the calling thread (and so in threads it starts later).
  static void block();
  // Waits up to `timeout` for one of them; nullopt on timeout.
  static std::optional<ControlSignal> wait(std::chrono::milliseconds timeout);
};

}  // namespace ps::sidecar::server
