#include "vault/emulator/state_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>

#include "engine/base/mutex.h"
#include "vault/emulator/util.h"

namespace ps::vault::emulator {

Result<bool> load_state_file(Emulator& emu, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return false;
    int err = errno;
    return io_error(err, "cannot read state file " + path);
  }
  std::stringstream ss;
  ss << in.rdbuf();
  if (Status restored = emu.restore(ss.str()); !restored.ok()) {
    return Status(restored.code(), "state file " + path + " is not usable: " + restored.message());
  }
  return true;
}

namespace {

// Writes all of `text` to `fd` (the temporary file `tmp`).
Status write_all(int fd, const std::string& text, const std::string& tmp) {
  std::size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0) {
      int err = errno;
      if (err == EINTR) continue;
      return io_error(err, "cannot write " + tmp);
    }
    off += static_cast<std::size_t>(n);
  }
  return Status::success();
}

}  // namespace

Status save_state_file(const Emulator& emu, const std::string& path) {
  std::string text = emu.snapshot();
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    int err = errno;
    return io_error(err, "cannot write " + tmp);
  }
  if (Status written = write_all(fd, text, tmp); !written.ok()) {
    ::close(fd);
    return written;
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    int err = errno;
    return io_error(err, "cannot flush " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    return io_error(err, "cannot rename " + tmp + " to " + path);
  }
  return Status::success();
}

StateSaver::StateSaver(Emulator& emu, std::string path, LogFn log,
                       std::chrono::milliseconds interval, std::chrono::milliseconds tidy_interval)
    : emu_(emu),
      path_(std::move(path)),
      log_(std::move(log)),
      interval_(interval),
      tidy_interval_(tidy_interval),
      saved_count_(emu.change_count()) {
  // A state file that does not exist yet is written at the first chance, changes or not.
  struct stat st{};
  if (!path_.empty() && ::stat(path_.c_str(), &st) != 0) force_ = true;
}

StateSaver::~StateSaver() { stop(); }

void StateSaver::start() { thread_ = std::thread([this] { run(); }); }

bool StateSaver::save_if_changed() {
  if (path_.empty()) return true;
  std::uint64_t now = emu_.change_count();
  if (now == saved_count_ && !force_) return true;
  if (Status saved = save_state_file(emu_, path_); !saved.ok()) {
    if (log_) log_(LogLevel::error, saved.message());
    return false;
  }
  saved_count_ = now;
  force_ = false;
  return true;
}

void StateSaver::run() {
  auto next_tidy = std::chrono::steady_clock::now() + tidy_interval_;
  auto wait = interval_;
  ps::MutexLock lock(mu_);
  while (!stop_) {
    const auto deadline = std::chrono::steady_clock::now() + wait;
    while (!stop_ && wake_.wait_until(lock, deadline) != std::cv_status::timeout) {
    }
    if (stop_) break;
    lock.unlock();
    if (std::chrono::steady_clock::now() >= next_tidy) {
      emu_.tidy();
      next_tidy = std::chrono::steady_clock::now() + tidy_interval_;
    }
    auto started = std::chrono::steady_clock::now();
    save_if_changed();
    // A snapshot holds the reader lock; with a large state, save less often so that writers
    // spend at most about a fifth of the time waiting for it.
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
    wait = std::max(interval_, took * 4);
    lock.lock();
  }
}

bool StateSaver::stop() {
  {
    ps::MutexLock lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  return save_if_changed();
}

}  // namespace ps::vault::emulator
