#include "sidecar/server/audit.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "engine/base/mutex.h"
#include "engine/rules/timestamp.h"

namespace ps::sidecar::server {


namespace {

Result<int> open_append(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return Status(Code::unavailable,
                  "cannot open the audit file " + path + ": " + std::strerror(errno));
  }
  // A new file's directory entry must be durable too, or a crash could lose the whole file.
  const auto slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
  return fd;
}

}  // namespace

Result<std::unique_ptr<AuditLog>> AuditLog::open(const std::string& path,
                                                         const Clock& clock) {
  auto fd = open_append(path);
  if (!fd.ok()) return fd.status();
  return std::unique_ptr<AuditLog>(new AuditLog(*fd, path, clock));
}

Status AuditLog::reopen() {
  auto fd = open_append(path_);
  if (!fd.ok()) return fd.status();
  ps::MutexLock sync_lock(sync_mu_);
  ps::MutexLock write_lock(write_mu_);
  (void)::fdatasync(fd_);
  synced_ = written_;
  ::close(fd_);
  fd_ = *fd;
  return Status::success();
}

AuditLog::~AuditLog() { ::close(fd_); }

std::uint64_t AuditLog::records_written() const {
  ps::MutexLock lock(write_mu_);
  return written_;
}

Status AuditLog::record(std::string_view event, const nlohmann::json& fields) {
  nlohmann::ordered_json j;
  j["ts"] = engine::format_isoformat_utc(clock_.wall_now());
  j["event"] = std::string(event);
  if (fields.is_object()) {
    for (auto it = fields.begin(); it != fields.end(); ++it) {
      if (it.key() != "ts" && it.key() != "event") j[it.key()] = it.value();
    }
  }
  std::string line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  line.push_back('\n');

  std::uint64_t mine = 0;
  {
    ps::MutexLock lock(write_mu_);
    // One write() per record: with O_APPEND the line lands whole at the end of the file.
    const char* p = line.data();
    std::size_t left = line.size();
    while (left > 0) {
      const ssize_t n = ::write(fd_, p, left);
      if (n < 0) {
        if (errno == EINTR) continue;
        return {Code::unavailable, "cannot write the audit file " + path_ + ": " + std::strerror(errno)};
      }
      p += n;
      left -= static_cast<std::size_t>(n);
    }
    mine = ++written_;
  }

  ps::MutexLock lock(sync_mu_);
  if (synced_ >= mine) return Status::success();  // another caller's sync covered our line
  std::uint64_t target = 0;
  {
    ps::MutexLock w(write_mu_);
    target = written_;
  }
  if (::fdatasync(fd_) != 0) {
    return {Code::unavailable, "cannot sync the audit file " + path_ + ": " + std::strerror(errno)};
  }
  synced_ = target;
  return Status::success();
}

}  // namespace ps::sidecar::server
