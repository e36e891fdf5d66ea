// Runs the real vault-emulator executable for integration tests: dev PKI in a temp dir,
// `--listen 127.0.0.1:0`, the VAULT_ADDR line read back, SIGTERM at the end.
#pragma once

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <fcntl.h>
#include <poll.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "tls/dev_pki.h"

extern char** environ;

namespace ps::vault::emulator::testing {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = std::filesystem::temp_directory_path().string() + "/ps-emu-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline std::string emulator_binary() {
  const char* dir = std::getenv("PS_BUILD_DIR");
  if (dir == nullptr) throw std::runtime_error("PS_BUILD_DIR is not set (run through ctest)");
  return std::string(dir) + "/vault/emulator/vault-emulator";
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A running emulator. The constructor throws when it does not print VAULT_ADDR in time.
class EmulatorProcess {
 public:
  EmulatorProcess(const std::vector<std::string>& args, const std::string& stderr_file) {
    std::vector<std::string> argv = {emulator_binary()};
    argv.insert(argv.end(), args.begin(), args.end());
    int out[2];
    if (pipe(out) != 0) throw std::runtime_error("pipe failed");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, stderr_file.c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0600);
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    int rc = posix_spawn(&pid_, cargv[0], &fa, nullptr, cargv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    out_fd_ = out[0];
    if (rc != 0) throw std::runtime_error("posix_spawn failed");
    first_line_ = read_line(std::chrono::seconds(10));
  }
  ~EmulatorProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (out_fd_ >= 0) close(out_fd_);
  }
  EmulatorProcess(const EmulatorProcess&) = delete;
  EmulatorProcess& operator=(const EmulatorProcess&) = delete;

  // "VAULT_ADDR=https://127.0.0.1:PORT", or "" when the process exited first.
  const std::string& first_line() const { return first_line_; }
  std::string addr() const {
    return first_line_.rfind("VAULT_ADDR=", 0) == 0 ? first_line_.substr(11) : "";
  }
  int port() const {
    auto a = addr();
    return a.empty() ? 0 : std::stoi(a.substr(a.rfind(':') + 1));
  }
  pid_t pid() const { return pid_; }
  // Everything the process wrote to stdout after the first line (read until EOF).
  std::string rest_of_stdout() {
    std::string all;
    char buf[4096];
    ssize_t n;
    while ((n = read(out_fd_, buf, sizeof buf)) > 0) all.append(buf, static_cast<std::size_t>(n));
    return all;
  }
  // Sends `sig` and returns the exit status (128 + signal when killed by one).
  int stop(int sig = SIGTERM) {
    kill(pid_, sig);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
  }

 private:
  std::string read_line(std::chrono::seconds timeout) {
    std::string line;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{out_fd_, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      char c;
      if (read(out_fd_, &c, 1) != 1) return line;
      if (c == '\n') return line;
      line.push_back(c);
    }
    throw std::runtime_error("vault-emulator did not print VAULT_ADDR in time");
  }

  pid_t pid_ = -1;
  int out_fd_ = -1;
  std::string first_line_;
};

}  // namespace ps::vault::emulator::testing
