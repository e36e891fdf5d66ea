// The reference engine's output formats, byte for byte: the "=====" text blocks and the
// json.dumps(..., indent=2) documents. Each function appends to `out` (the trailing newline
// of Python's print included).
#pragma once

#include <functional>
#include <optional>
#include <string_view>
#include <ostream>
#include <string>
#include <vector>

#include "engine/ledger/ledger.h"
#include "engine/rules/pyjson.h"
#include "engine/rules/rules.h"

namespace ps::sidecar {

void evaluation_text(std::string& out, const engine::Evaluation& e);
void evaluation_json(std::string& out, const engine::Evaluation& e);

// The `eligible` listing, written as evaluations arrive so that 100k agents never sit in
// memory as one document: construct, add() each ELIGIBLE / PENDING_REVIEW evaluation in
// output order, end(). Output goes to `sink` in chunks of about kChunk bytes.
class EligibleWriter {
 public:
  static constexpr std::size_t kChunk = 1 << 20;
  using Sink = std::function<void(std::string_view chunk)>;
  EligibleWriter(Sink sink, bool json);
  void add(const engine::Evaluation& e);
  void end();

 private:
  void flush_if_full();
  Sink sink_;
  bool json_;
  std::size_t count_ = 0;
  std::string buf_;
  engine::PyJsonWriter writer_;
};

void history_text(std::string& out, const engine::PromotionHistory& history);
void history_json(std::string& out, const engine::PromotionHistory& history);

// All four rule tiers, or just `tier` (any integer; unknown tiers print "No description").
void requirements_text(std::string& out, const engine::Rules& rules,
                       std::optional<std::int64_t> tier);

}  // namespace ps::sidecar
