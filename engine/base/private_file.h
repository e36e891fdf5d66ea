// The one reader of secret and key files (api.token_file, webhook.secrets_file, the Vault
// token_file / AppRole role_id_file and secret_id_file, TLS private keys): plain POSIX, no
// other dependency, so every layer above engine/base uses it.
//
// Who calls it: sidecar/config/secret_files.cpp, vault/secret_file.cpp, tls/ossl.cpp (keys).
//
// Promises: the file is opened with O_NOFOLLOW|O_NONBLOCK|O_CLOEXEC|O_NOCTTY (a symlink is
// refused, a FIFO or device never blocks the caller), and everything is checked on the opened
// descriptor (fstat), so what is checked is what is read:
//   - a regular file;
//   - owned by the process's effective uid or by root;
//   - no write permission for group or others; no read permission for others; and, for
//     FileSecrecy::secret, no permission at all for group (a TLS key may be group-readable,
//     e.g. 0640 root:ssl-cert); FileSecrecy::world_readable drops the read rules only;
//   - at most max_bytes.
// Errors are Status values whose message is "<path>: <why>" (never the content):
// not_found (missing), permission_denied (cannot open), invalid_argument (any rule above),
// unavailable (read error). The caller prefixes its config key.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <optional>
#include <string>

#include "engine/base/status.h"

namespace ps {

enum class FileSecrecy {
  secret,       // tokens, webhook secrets, AppRole ids: owner only (chmod 600)
  private_key,  // TLS private keys: group may read, nobody else
  // Readable by anyone, written only by the owner: the Vault library's lenient mode
  // (vault::read_secret_file without require_private); the daemon never uses it.
  world_readable,
};

struct PrivateFileRules {
  FileSecrecy secrecy = FileSecrecy::secret;
  std::size_t max_bytes = 64 * 1024;
  // The uid besides root that may own the file; unset: the process's effective uid.
  std::optional<uid_t> owner;
};

// The whole content of `path` under `rules` (see the header comment).
Result<std::string> read_private_file(const std::string& path, const PrivateFileRules& rules = {});

}  // namespace ps
