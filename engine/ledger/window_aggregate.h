// Per-agent aggregates of the 30-day window while its rows stream in from SQLite, in index
// order (by time), for up to hundreds of thousands of agents and tens of millions of rows.
//
// The `eligible` pass spends its time here, so the layout is flat: agent ids are found through
// an open-addressing table whose keys live in one arena, action names are interned to small
// integers, and each agent's counters and first-seen rowids sit in one contiguous record.
// Internal to engine/.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/rules/rules.h"

namespace ps::engine {

// Maps strings (agent ids, action names) to dense indexes 0..n-1, assigned in insertion order.
class StringIndex {
 public:
  static constexpr std::uint32_t kNotFound = UINT32_MAX;

  explicit StringIndex(std::size_t expected = 0);
  std::string_view key(std::uint32_t index) const {
    return {arena_.data() + offsets_[index], lengths_[index]};
  }
  // Adds `id` and returns its index; an id already present keeps its first index.
  std::uint32_t add(std::string_view id);
  // Reserves an index that no id finds (for rows without a usable id).
  std::uint32_t add_anonymous();
  std::uint32_t find(std::string_view id) const;
  std::size_t size() const { return offsets_.size(); }

 private:
  // The key's bytes (see probe_of) and length sit in the slot, so keys up to 16 bytes (agent
  // ids, action names) are found without touching the arena or calling memcmp.
  struct Slot {
    std::uint64_t k0 = 0, k1 = 0;
    std::uint32_t length = 0;
    std::uint32_t index_plus_1 = 0;  // 0 = empty
  };
  struct Probe {
    std::uint64_t k0, k1, hash;
  };
  static Probe probe_of(std::string_view key);
  bool matches(const Slot& s, const Probe& p, std::string_view key) const;
  void grow();

  std::vector<Slot> slots_;
  std::size_t mask_ = 0;
  std::string arena_;
  std::vector<std::uint32_t> offsets_;
  std::vector<std::uint32_t> lengths_;
};

class WindowAggregate {
 public:
  explicit WindowAggregate(std::size_t agents) : hot_(agents) {}

  // One window row of agent `agent` (an StringIndex index).
  void add(std::uint32_t agent, std::string_view action, bool success, bool execution,
           std::int64_t rowid);

  // Forgets what was added for `agent` (to reuse one slot while streaming agents).
  void reset(std::uint32_t agent);

  // Writes the agent's window facts: totals and distinct action types in order of first
  // appearance (lowest rowid), which is the order of the reference's SELECT DISTINCT scan.
  void finish(std::uint32_t agent, AgentFacts& facts) const;

 private:
  static constexpr std::size_t kInline = 8;
  struct Hot {
    std::int64_t total = 0, successful = 0, executions = 0;
    std::uint32_t overflow = 0;  // 1 + index into overflow_, 0 = none
    std::uint8_t count = 0;      // inline entries used
    std::array<std::uint32_t, kInline> action{};
    std::array<std::int64_t, kInline> first_rowid{};
  };
  std::vector<Hot> hot_;
  std::vector<std::vector<std::pair<std::uint32_t, std::int64_t>>> overflow_;
  StringIndex actions_;
};

}  // namespace ps::engine
