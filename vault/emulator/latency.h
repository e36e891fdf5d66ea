// The emulator's latency model: how long a /v1 request takes before Vault would answer it.
//
// Who calls: the core (core.cpp) decides a request's delay from LatencySettings when it is
// dispatched (set by --read-latency-ms and friends, or POST /_emulator/latency); the front end
// (server.cpp) waits that long - never holding the core's locks - and then lets the core answer.
// With serialize_writes the front end's waits for writes go through one CommitPipeline: one
// commit at a time, every write that arrived while a commit was running joins the next one
// (a batch), as Vault's integrated storage (Raft) commits log entries. What it does not model:
// network bandwidth, disk fsync variance beyond the jitter, follower round trips, reads that
// wait for a write to the same key (a read is answered from the state as it is when its own
// delay ends; a write's effect becomes visible when its commit ends).
//
// Promises: delay() is deterministic for a given RandomSource sequence; CommitPipeline::commit
// returns only after a commit that started after the call began has finished, and at most one
// commit runs at a time.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "engine/base/mutex.h"
#include "engine/base/status.h"

namespace ps::vault::emulator {

struct LatencySettings {
  std::chrono::milliseconds read{0};
  std::chrono::milliseconds read_jitter{0};   // + uniform [0, jitter]
  std::chrono::milliseconds write{0};
  std::chrono::milliseconds write_jitter{0};
  bool serialize_writes = false;               // one commit at a time, batched
  static constexpr std::int64_t kMaxMs = 10000;  // per figure

  bool any() const { return read.count() || read_jitter.count() || write.count() || write_jitter.count(); }
};

// A request's wait: `write` requests (POST, PUT, DELETE) use the write figures; `draw` gives a
// uniform number in [0, n] (the core's random source).
std::chrono::milliseconds latency_for(const LatencySettings& s, bool write,
                                      const std::function<std::int64_t(std::int64_t n)>& draw);

// {"read_ms", "read_jitter_ms", "write_ms", "write_jitter_ms", "serialize_writes"}: the body
// of POST/GET /_emulator/latency. Every key optional (absent = 0 / false), so a body states
// the whole model; milliseconds 0..kMaxMs; invalid_argument names the key.
nlohmann::json latency_to_json(const LatencySettings& s);
Result<LatencySettings> latency_from_json(const nlohmann::json& j);
// The --latency flag: the same keys as "read_ms=5,write_ms=5,write_jitter_ms=2,serialize_writes".
Result<LatencySettings> latency_from_spec(std::string_view spec);

// Writes that wait for a Raft-like commit. Thread-safe.
class CommitPipeline {
 public:
  using Sleep = std::function<void(std::chrono::milliseconds)>;
  explicit CommitPipeline(Sleep sleep) : sleep_(std::move(sleep)) {}

  // Blocks until this write's batch is committed. The first write to find no commit running
  // leads its batch: it sleeps `duration` (its own drawn latency) while later writes queue for
  // the next batch. Returns the number of the batch it was committed in (1, 2, ...).
  std::uint64_t commit(std::chrono::milliseconds duration);
  std::uint64_t batches() const;
  std::size_t queued() const;  // writes waiting for a later batch while one commits

 private:
  Sleep sleep_;
  mutable ps::Mutex mu_;
  ps::CondVar done_cv_;
  bool committing_ GUARDED_BY(mu_) = false;    // a leader is sleeping
  std::uint64_t forming_ GUARDED_BY(mu_) = 1;  // the batch new writes join
  std::uint64_t done_ GUARDED_BY(mu_) = 0;     // every batch up to this one is committed
  std::size_t queued_ GUARDED_BY(mu_) = 0;
};

}  // namespace ps::vault::emulator
