#include "sidecar/server/sd_notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>

namespace ps::sidecar::server {

Status SdNotifier::notify(std::string_view state) const {
  if (path_.empty()) return Status::success();
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path_.size() >= sizeof(addr.sun_path) || (path_[0] != '/' && path_[0] != '@')) {
    return Status(Code::invalid_argument,
                  "NOTIFY_SOCKET is not an absolute path or @abstract name");
  }
  std::memcpy(addr.sun_path, path_.data(), path_.size());
  // Abstract namespace: the leading '@' stands for a NUL byte, and the address length counts
  // exactly the name (no terminating NUL).
  if (path_[0] == '@') addr.sun_path[0] = '\0';
  const socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path_.size());
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status(Code::unavailable, std::string("socket: ") + std::strerror(errno));
  const ssize_t n = ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL,
                             reinterpret_cast<const sockaddr*>(&addr), len);
  const int err = errno;
  ::close(fd);
  if (n < 0) return Status(Code::unavailable, "sendto " + path_ + ": " + std::strerror(err));
  return Status::success();
}

Status SdNotifier::ready(std::string_view status) const {
  std::string s = "READY=1\nSTATUS=";
  for (char c : status) s.push_back(c == '\n' ? ' ' : c);
  s += "\nMAINPID=" + std::to_string(::getpid());
  return notify(s);
}

Status SdNotifier::reloading() const {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  const long long usec = static_cast<long long>(ts.tv_sec) * 1000000LL + ts.tv_nsec / 1000;
  return notify("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec) + "\nSTATUS=reloading");
}

Status SdNotifier::stopping() const { return notify("STOPPING=1\nSTATUS=shutting down"); }

}  // namespace ps::sidecar::server
