#include "engine/ledger/window_aggregate.h"

#include <algorithm>
#include <cstring>

namespace ps::engine {
// (k0, k1, length) identify a key of up to 16 bytes exactly: k0 holds bytes [0, 8) and k1
// bytes [length - 8, length) (overlapping when length < 16), read with two unaligned loads
// inside the key; keys under 8 bytes are packed into k0. Longer keys also hash their middle
// and are compared in the arena.
StringIndex::Probe StringIndex::probe_of(std::string_view key) {
  Probe p{};
  const char* d = key.data();
  const std::size_t n = key.size();
  if (n >= 8) {
    std::memcpy(&p.k0, d, 8);
    std::memcpy(&p.k1, d + n - 8, 8);
  } else {
    for (std::size_t i = 0; i < n; ++i) {
      p.k0 |= static_cast<std::uint64_t>(static_cast<unsigned char>(d[i])) << (8 * i);
    }
  }
  std::uint64_t h = (p.k0 * 0x9E3779B97F4A7C15ull) ^ (p.k1 * 0xC2B2AE3D27D4EB4Full) ^
                    (n * 0x165667B19E3779F9ull);
  for (std::size_t i = 8; i + 8 < n; ++i) {  // the middle of keys longer than 16 bytes
    h = (h ^ static_cast<unsigned char>(d[i])) * 0x100000001B3ull;
  }
  p.hash = h ^ (h >> 29);
  return p;
}

bool StringIndex::matches(const Slot& s, const Probe& p, std::string_view key) const {
  if (s.k0 != p.k0 || s.k1 != p.k1 || s.length != key.size()) return false;
  return key.size() <= 16 || this->key(s.index_plus_1 - 1) == key;
}

StringIndex::StringIndex(std::size_t expected) {
  std::size_t cap = 16;
  while (cap < expected * 2) cap <<= 1;
  slots_.assign(cap, Slot{});
  mask_ = cap - 1;
  offsets_.reserve(expected);
  lengths_.reserve(expected);
}

void StringIndex::grow() {
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(old.size() * 2, Slot{});
  mask_ = slots_.size() - 1;
  for (const Slot& s : old) {
    if (!s.index_plus_1) continue;
    std::size_t i = probe_of(key(s.index_plus_1 - 1)).hash & mask_;
    while (slots_[i].index_plus_1) i = (i + 1) & mask_;
    slots_[i] = s;
  }
}

std::uint32_t StringIndex::add(std::string_view id) {
  if (const std::uint32_t existing = find(id); existing != kNotFound) return existing;
  if ((offsets_.size() + 1) * 2 > slots_.size()) grow();
  const auto index = static_cast<std::uint32_t>(offsets_.size());
  offsets_.push_back(static_cast<std::uint32_t>(arena_.size()));
  lengths_.push_back(static_cast<std::uint32_t>(id.size()));
  arena_.append(id);
  const Probe p = probe_of(id);
  std::size_t i = p.hash & mask_;
  while (slots_[i].index_plus_1) i = (i + 1) & mask_;
  slots_[i] = {p.k0, p.k1, static_cast<std::uint32_t>(id.size()), index + 1};
  return index;
}

std::uint32_t StringIndex::add_anonymous() {
  const auto index = static_cast<std::uint32_t>(offsets_.size());
  offsets_.push_back(static_cast<std::uint32_t>(arena_.size()));
  lengths_.push_back(0);
  return index;
}

std::uint32_t StringIndex::find(std::string_view id) const {
  const Probe p = probe_of(id);
  for (std::size_t i = p.hash & mask_;; i = (i + 1) & mask_) {
    const Slot& s = slots_[i];
    if (!s.index_plus_1) return kNotFound;
    if (matches(s, p, id)) return s.index_plus_1 - 1;
  }
}

void WindowAggregate::add(std::uint32_t agent, std::string_view action, bool success,
                          bool execution, std::int64_t rowid) {
  const std::uint32_t id = actions_.add(action);
  Hot& h = hot_[agent];
  ++h.total;
  h.successful += success;
  h.executions += execution;
  for (std::uint8_t k = 0; k < h.count; ++k) {
    if (h.action[k] == id) {
      h.first_rowid[k] = std::min(h.first_rowid[k], rowid);
      return;
    }
  }
  if (h.count < kInline) {
    h.action[h.count] = id;
    h.first_rowid[h.count] = rowid;
    ++h.count;
    return;
  }
  if (!h.overflow) {
    overflow_.emplace_back();
    h.overflow = static_cast<std::uint32_t>(overflow_.size());
  }
  for (auto& [a, first] : overflow_[h.overflow - 1]) {
    if (a == id) {
      first = std::min(first, rowid);
      return;
    }
  }
  overflow_[h.overflow - 1].emplace_back(id, rowid);
}

void WindowAggregate::reset(std::uint32_t agent) {
  Hot& h = hot_[agent];
  if (h.overflow) overflow_[h.overflow - 1].clear();
  const std::uint32_t overflow = h.overflow;
  h = Hot{};
  h.overflow = overflow;
}

void WindowAggregate::finish(std::uint32_t agent, AgentFacts& facts) const {
  const Hot& h = hot_[agent];
  std::vector<std::pair<std::int64_t, std::uint32_t>> seen;
  for (std::uint8_t k = 0; k < h.count; ++k) seen.emplace_back(h.first_rowid[k], h.action[k]);
  if (h.overflow) {
    for (const auto& [a, first] : overflow_[h.overflow - 1]) seen.emplace_back(first, a);
  }
  std::sort(seen.begin(), seen.end());
  facts.total_actions = h.total;
  facts.successful_actions = h.successful;
  facts.successful_executions = h.executions;
  facts.action_types.clear();
  for (const auto& [first, a] : seen) facts.action_types.emplace_back(actions_.key(a));
}

}  // namespace ps::engine
