// --state FILE: load at start, save atomically (temp file + fsync + rename, mode 0600),
// debounced while running and once more at shutdown.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "engine/base/mutex.h"
#include "engine/base/status.h"
#include "tls/tls.h"
#include "vault/emulator/emulator.h"

namespace ps::vault::emulator {

// Loads `path` into the emulator. The value says whether it was loaded: a missing file is not
// an error (false). Errors: the file cannot be read (errno-derived code), or it is no usable
// state (invalid_argument); the emulator is then unchanged.
ps::Result<bool> load_state_file(Emulator& emu, const std::string& path);
// Writes the emulator's snapshot to `path` atomically (errno-derived code on failure).
ps::Status save_state_file(const Emulator& emu, const std::string& path);

// Saves when the emulator's change count moved, at most once per `interval`, and runs the
// periodic tidy (expired secret IDs and tokens) every `tidy_interval`. stop() saves once more.
class StateSaver {
 public:
  StateSaver(Emulator& emu, std::string path, LogFn log,
             std::chrono::milliseconds interval = std::chrono::milliseconds(500),
             std::chrono::milliseconds tidy_interval = std::chrono::seconds(60));
  ~StateSaver();
  void start();
  // Stops the thread and saves if anything changed. Returns false if the final save failed.
  bool stop();

 private:
  bool save_if_changed();
  void run();

  Emulator& emu_;
  std::string path_;  // empty: no persistence, tidy only
  LogFn log_;
  std::chrono::milliseconds interval_;
  std::chrono::milliseconds tidy_interval_;
  std::uint64_t saved_count_ = 0;  // only the saver thread (and stop() after it) touch these
  bool force_ = false;
  ps::Mutex mu_;
  ps::CondVar wake_;
  bool stop_ GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace ps::vault::emulator
