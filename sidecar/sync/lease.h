// Lease owner ids for the outbox (engine/outbox.h): which process holds a row, and whether
// that process is gone so its lease can be broken before it expires.
//
// An id is "<host>:<pid>:<start>[:<worker>]", where <start> is the process start time from
// /proc/<pid>/stat (so a recycled pid is not mistaken for the owner) and <worker> tells
// several workers of one process apart. A restarted worker on
// the same host breaks the leases of a dead predecessor at once; leases of other hosts (or of
// a process that cannot be checked) are broken only when they expire.
#pragma once

#include <string>
#include <string_view>

namespace ps::sidecar {

// This process's id "<host>:<pid>:<start>" (computed once).
const std::string& this_process_lease_owner();

// True when `owner` names a process on this host that no longer runs (no such pid, a
// different start time, or a zombie). False for this process (any worker), other hosts and
// ids that do not parse.
bool lease_owner_is_dead(std::string_view owner);

}  // namespace ps::sidecar
