// Reading secrets from files: Vault Agent's token sink, AppRole role-id and secret-id files.
//
// A file holds the bare value; surrounding whitespace (a trailing newline from `echo`) is
// dropped. Errors name the file, never its content.
#pragma once

#include <cstdint>
#include <string>

#include "vault/error.h"
#include "vault/secret.h"

namespace ps::vault {

// Reads the whole file (at most 64 KiB) through the one secret-file reader
// (engine/base/private_file.h). Errors (auth_unavailable, retry): missing or unreadable file,
// a symbolic link, not a regular file (a FIFO is refused at once), owned by anyone but this
// process's user or root, writable by group or others, empty after trimming, bytes that cannot
// be a token or id, and - when `require_private` - a file readable by group or others.
Result<Secret> read_secret_file(const std::string& path, bool require_private);

// Notices when a file was replaced or rewritten: the identity of its last read (device,
// inode, size, modification time in ns). Vault Agent's file sink writes a temp file and
// renames it, which always changes the inode.
class FileWatch {
 public:
  explicit FileWatch(std::string path) : path_(std::move(path)) {}
  // True when the file's identity differs from the last remember() (or was never taken), or
  // the file cannot be stat()ed now.
  bool changed() const;
  // Records the file's current identity.
  void remember();
  const std::string& path() const { return path_; }

 private:
  struct Identity {
    std::uint64_t dev = 0, ino = 0, size = 0;
    std::int64_t mtime_ns = 0;
    bool valid = false;
    bool operator==(const Identity&) const = default;
  };
  Identity current() const;

  std::string path_;
  Identity last_;
};

}  // namespace ps::vault
