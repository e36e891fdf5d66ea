#include "sidecar/cli/progress.h"

#include <string>

namespace ps::sidecar {

void ScanProgressDisplay::update(const engine::ScanProgress& p) {
  if (!enabled_) return;
  if (p.agents < kMinAgents && p.rows < kMinRows && !shown_) return;
  std::string text = "\religible: ";
  switch (p.phase) {
    case engine::ScanProgress::Phase::metrics:
      text += "reading agent metrics: " + std::to_string(p.rows) + " agents";
      break;
    case engine::ScanProgress::Phase::actions:
      text += std::to_string(p.agents) + " agents; 30-day window: " + std::to_string(p.rows) +
              " actions";
      break;
    case engine::ScanProgress::Phase::violations:
      text += std::to_string(p.agents) + " agents; violations: " + std::to_string(p.rows) +
              " agents with violations";
      break;
  }
  err_ << text << "\x1b[K" << std::flush;
  shown_ = true;
}

void ScanProgressDisplay::finish() {
  if (shown_) err_ << "\r\x1b[K" << std::flush;
  shown_ = false;
}

}  // namespace ps::sidecar
