#include "sidecar/server/signals.h"

#include <signal.h>

#include <cerrno>

namespace ps::sidecar::server {
namespace {

sigset_t control_set() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

}  // namespace

void SignalWaiter::block() {
  const sigset_t set = control_set();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  sigemptyset(&ignore.sa_mask);
  sigaction(SIGPIPE, &ignore, nullptr);
}

std::optional<ControlSignal> SignalWaiter::wait(std::chrono::milliseconds timeout) {
  const sigset_t set = control_set();
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  ts.tv_nsec = static_cast<long>((timeout.count() % 1000) * 1000000);
  const int sig = sigtimedwait(&set, nullptr, &ts);
  if (sig == SIGHUP) return ControlSignal::reload;
  if (sig == SIGTERM || sig == SIGINT) return ControlSignal::terminate;
  return std::nullopt;  // timeout (EAGAIN) or EINTR
}

}  // namespace ps::sidecar::server
