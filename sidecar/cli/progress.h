// Progress of a long `eligible` scan on stderr, for a human watching a terminal. The caller
// decides whether stderr is a terminal; when it is not, nothing is ever written, so scripts
// reading stderr see only real messages.
#pragma once

#include <cstdint>
#include <ostream>

#include "engine/ledger/ledger.h"

namespace ps::sidecar {

class ScanProgressDisplay {
 public:
  // Below these sizes the scan is too quick to be worth a progress line.
  static constexpr std::int64_t kMinAgents = 10000;
  static constexpr std::int64_t kMinRows = 1 << 16;

  ScanProgressDisplay(std::ostream& err, bool enabled) : err_(err), enabled_(enabled) {}
  ~ScanProgressDisplay() { finish(); }

  void update(const engine::ScanProgress& p);
  // Clears the progress line, if one was shown.
  void finish();

 private:
  std::ostream& err_;
  bool enabled_;
  bool shown_ = false;
};

}  // namespace ps::sidecar
