#include "vault/emulator/state_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>

namespace ps::vault::emulator {

bool load_state_file(Emulator& emu, const std::string& path, bool* loaded, std::string* error) {
  *loaded = false;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return true;
    *error = "cannot read state file " + path + ": " + std::strerror(errno);
    return false;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  std::string why;
  if (!emu.restore(ss.str(), &why)) {
    *error = "state file " + path + " is not usable: " + why;
    return false;
  }
  *loaded = true;
  return true;
}

bool save_state_file(const Emulator& emu, const std::string& path, std::string* error) {
  std::string text = emu.snapshot();
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    *error = "cannot write " + tmp + ": " + std::strerror(errno);
    return false;
  }
  std::size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      *error = "cannot write " + tmp + ": " + std::strerror(errno);
      ::close(fd);
      return false;
    }
    off += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    *error = "cannot flush " + tmp + ": " + std::strerror(errno);
    return false;
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    *error = "cannot rename " + tmp + " to " + path + ": " + std::strerror(errno);
    return false;
  }
  return true;
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
  std::string error;
  if (!save_state_file(emu_, path_, &error)) {
    if (log_) log_(LogLevel::error, error);
    return false;
  }
  saved_count_ = now;
  force_ = false;
  return true;
}

void StateSaver::run() {
  auto next_tidy = std::chrono::steady_clock::now() + tidy_interval_;
  auto wait = interval_;
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    wake_.wait_for(lock, wait, [this] { return stop_; });
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
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  return save_if_changed();
}

}  // namespace ps::vault::emulator
