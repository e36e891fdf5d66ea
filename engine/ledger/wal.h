// The ledger file's journal mode, and background WAL checkpoints for the daemon.
//
// The journal mode is persistent in the platform's file and is the platform's decision; the
// daemon switches to WAL only when configured to (ledger.journal_mode "wal").
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "engine/base/status.h"
#include "engine/ledger/ledger.h"
#include "engine/ledger/sqlite.h"

namespace ps::engine {

// Switches the ledger file to write-ahead logging (persistent in the file; readers no longer
// block writers, and a commit costs one fsync instead of several). unavailable when another
// connection holds a lock that prevents the switch; the caller may go on in the old mode.
// Returns the journal mode in effect afterwards ("wal", "delete", ...).
Result<std::string> use_wal_journal(const LedgerOptions& options);
// The journal mode in effect, unchanged ("delete", "wal", ...).
Result<std::string> journal_mode(const LedgerOptions& options);

// Moves committed pages from the WAL into the ledger file, in the background: without it, the
// commit that pushes the WAL past 1000 pages does that copy (and an fsync of the ledger file)
// before it returns - a latency spike for whichever approval is unlucky. A frequent PASSIVE
// checkpoint (never waits for readers or writers) keeps the WAL short so that never happens.
class WalCheckpointer {
 public:
  static Result<std::unique_ptr<WalCheckpointer>> open(const LedgerOptions& options);
  // The number of frames in the WAL and how many are now in the ledger file.
  struct Progress {
    std::int64_t wal_frames = 0;
    std::int64_t checkpointed = 0;
  };
  Result<Progress> checkpoint();

 private:
  explicit WalCheckpointer(std::unique_ptr<sqlite::Connection> conn) : conn_(std::move(conn)) {}
  std::unique_ptr<sqlite::Connection> conn_;
};

}  // namespace ps::engine
