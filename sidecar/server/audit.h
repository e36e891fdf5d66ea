// The audit trail: an append-only JSON-lines file with one record per decision (promotion,
// denial, rejected webhook with its reason, drift found/corrected, sync parked).
//
// Durability: record() returns only after the line is on disk (fdatasync). Concurrent
// callers share fsyncs (group commit): a caller whose line was covered by another thread's
// sync does not sync again, so many approvals at once cost a few fsyncs, not one each. The
// file is opened O_APPEND (never rewritten or truncated) and created mode 0600.
//
// A record never holds a secret: callers pass identifiers, decisions and reasons only.
// Thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "engine/base/mutex.h"
#include "engine/base/status.h"
#include "engine/base/clock.h"

namespace ps::sidecar::server {

class AuditLog {
 public:
  // Opens (creating if needed) the file. The directory must exist. unavailable on failure,
  // naming the path and the OS error.
  static Result<std::unique_ptr<AuditLog>> open(const std::string& path,
                                                        const Clock& clock);
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Appends {"ts": ..., "event": event, ...fields} and waits until it is durable.
  // unavailable when the write or the sync failed (the caller logs it; the decision itself
  // is already in the ledger).
  Status record(std::string_view event, const nlohmann::json& fields);

  // Closes the file and opens `path` again (after a rotation by rename: SIGHUP). Records
  // written before are synced first. On failure the old file stays in use.
  Status reopen();

  const std::string& path() const { return path_; }
  std::uint64_t records_written() const;

 private:
  AuditLog(int fd, std::string path, const Clock& clock)
      : fd_(fd), path_(std::move(path)), clock_(clock) {}

  // Lock order: sync_mu_ before write_mu_.
  int fd_;  // written under both locks (reopen), read under either
  const std::string path_;
  const Clock& clock_;

  mutable ps::Mutex write_mu_;  // serialises appends
  std::uint64_t written_ GUARDED_BY(write_mu_) = 0;  // lines appended so far
  ps::Mutex sync_mu_;           // one fdatasync at a time
  std::uint64_t synced_ GUARDED_BY(sync_mu_) = 0;  // lines known durable
};

}  // namespace ps::sidecar::server
