// Lease owner ids for the outbox (engine/outbox.h): which process holds a row, and whether
// that process is gone so its lease can be broken before it expires.
//
// An id is "<host>:<pid>:<start>[:<worker>]", where <start> is the process start time from
// /proc/<pid>/stat (so a recycled pid is not mistaken for the owner) and <worker> tells
// several workers of one process apart. A restarted worker on
// the same host breaks the leases of a dead predecessor at once; leases of other hosts (or of
// a process that cannot be checked) are broken only when they expire.
//
// keep_lease(): a worker claims rows (outbox rows, revocation steps) under
// one lease, and a slow Vault can make that lease run out mid-batch, after which another worker
// may take the rows over. So right before every Vault WRITE the worker calls keep_lease(): with
// less than `needed` left it renews the lease in the ledger, which succeeds only while the claim
// is still its own (same revision and owner; every claim bumps the revision); when it fails the
// worker does not write. `needed` is LeaseBudget::before_write(): the write cannot outlast its
// own request deadline, so a lease with that much left is still ours when the write lands.
// Workers also cut a batch (release what they have not started) when less than
// before_start(requests) is left, so a batch is sized to its lease as it runs.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

#include "engine/base/clock.h"
#include "engine/base/status.h"

namespace ps::sidecar {

// This process's id "<host>:<pid>:<start>" (computed once).
const std::string& this_process_lease_owner();

// True when `owner` names a process on this host that no longer runs (no such pid, a
// different start time, or a zombie), or a worker of this process that has retired. False for
// this process's other ids, other hosts and ids that do not parse.
bool lease_owner_is_dead(std::string_view owner);

// A worker of this process that will never run again (stopped, or destroyed) retires its owner
// id: its leases - rows a tier change handed to it after it stopped, say - are then broken at
// once by the worker that takes its partition over, not when they expire. Thread-safe.
void retire_lease_owner(std::string_view owner);

struct LeaseBudget {
  // The whole deadline of one Vault request (vault.timeout_s).
  std::chrono::milliseconds request_deadline{std::chrono::seconds{60}};
  // Lease left before a write: the write's deadline twice (room for the clocks of two hosts).
  std::chrono::milliseconds before_write() const { return request_deadline * 2; }
  // Lease left to start a unit of work of `requests` Vault requests.
  std::chrono::milliseconds before_start(int requests) const { return request_deadline * requests; }
};

// True: the claim is ours with at least `needed` left, after renewing it to now + `lease`
// through `renew(until)` when less was left (`lease_until` then moves). False: `renew` said the
// claim was lost. Ledger errors from `renew` are returned.
Result<bool> keep_lease(Clock::WallTime now, Clock::WallTime& lease_until,
                        std::chrono::milliseconds needed, std::chrono::milliseconds lease,
                        const std::function<Result<bool>(Clock::WallTime until)>& renew);

}  // namespace ps::sidecar
