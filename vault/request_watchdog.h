// RequestWatchdog: the per-request deadline of VaultClient.
//
// httplib's timeouts apply to each socket read and write, so a peer that trickles one byte
// per second (during the TLS handshake, the status line, the headers or the body) would hold
// a request for ever. VaultClient arms the watchdog before each request with the request's
// deadline; if disarm() has not come by then, the watchdog thread runs the request's `fire`
// action (VaultClient shuts the connection's socket down and calls httplib's stop()), so the
// blocked read or handshake fails at once and the request returns.
//
// Time: real steady time (std::chrono::steady_clock), like the socket timeouts it bounds: the
// injected Clock has no timed wait, and a simulated clock cannot cut a real socket.
//
// Threading: arm()/disarm() from the one thread that owns the VaultClient; the watchdog's own
// thread starts on the first arm() and ends in the destructor. `fire` runs on the watchdog
// thread with the watchdog's lock held, so once disarm() returns it neither runs nor is
// running. arm() wakes the thread only when its deadline is earlier than the one the thread
// sleeps towards, so back-to-back requests cost no context switch each.
#pragma once

#include <chrono>
#include <condition_variable>

#include "engine/base/mutex.h"
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

namespace ps::vault {

class RequestWatchdog {
 public:
  using Deadline = std::chrono::steady_clock::time_point;

  RequestWatchdog() = default;
  ~RequestWatchdog();
  RequestWatchdog(const RequestWatchdog&) = delete;
  RequestWatchdog& operator=(const RequestWatchdog&) = delete;

  // Watches one request: `fire` runs once at `deadline` unless disarm() comes first. Replaces
  // a request still armed.
  void arm(Deadline deadline, std::function<void()> fire);
  // Ends the watch. True when `fire` ran (the deadline passed during the request).
  bool disarm();
  // The end of the watchdog thread's current timed sleep; nullopt while it is awake or idle
  // (tests: to know the thread sleeps towards a deadline).
  std::optional<Deadline> sleeping_until();

 private:
  void loop();

  ps::Mutex mu_;
  ps::CondVar cv_;
  std::optional<Deadline> deadline_ GUARDED_BY(mu_);  // set while armed and not yet fired
  std::function<void()> fire_ GUARDED_BY(mu_);
  bool fired_ GUARDED_BY(mu_) = false;
  bool quit_ GUARDED_BY(mu_) = false;
  // The end of the thread's timed sleep; nullopt while it is awake or waits for an arm().
  std::optional<Deadline> sleeping_until_ GUARDED_BY(mu_);
  std::thread thread_;                // started by the first arm()
};

}  // namespace ps::vault
