// systemd's notification protocol without libsystemd: one datagram per state change to the
// AF_UNIX socket named by $NOTIFY_SOCKET (a path, or "@name" for the abstract namespace).
//
//   READY=1                       after the listener is bound and the workers run
//   RELOADING=1 + MONOTONIC_USEC  when a SIGHUP reload starts (Type=notify-reload, systemd 253+)
//   STOPPING=1                    when shutdown starts
//   STATUS=...                    a one-line description for `systemctl status`
//
// Without $NOTIFY_SOCKET every call is a no-op. Failures are returned as a Status
// (invalid_argument for a bad $NOTIFY_SOCKET, unavailable when sending fails), never fatal.
#pragma once

#include <string>
#include <string_view>

#include "engine/base/status.h"

namespace ps::sidecar::server {

class SdNotifier {
 public:
  // `socket_path` is $NOTIFY_SOCKET's value ("" = disabled).
  explicit SdNotifier(std::string socket_path) : path_(std::move(socket_path)) {}
  bool enabled() const { return !path_.empty(); }
  // Sends `state` (newline-separated assignments).
  Status notify(std::string_view state) const;

  Status ready(std::string_view status) const;
  Status reloading() const;  // with MONOTONIC_USEC from CLOCK_MONOTONIC
  Status stopping() const;

 private:
  std::string path_;
};

}  // namespace ps::sidecar::server
