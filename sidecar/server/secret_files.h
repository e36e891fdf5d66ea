// Secret files of the daemon (webhook secrets, the operator API token): read whole, refused
// like ssh refuses private keys when anyone but the owner may read or write them.
#pragma once

#include <string>

#include "engine/status.h"

namespace ps::sidecar::server {

// The file's content (at most 64 KiB). invalid_argument naming `key` (the config key) and the
// path, never the content, when: missing or unreadable, not a regular file, larger than the
// limit, or its mode grants any permission to group or others (fix: chmod 600).
engine::Result<std::string> read_private_file(const std::string& path, const std::string& key);

// api.token_file: one token (surrounding whitespace dropped), 16-1024 visible ASCII bytes.
engine::Result<std::string> load_api_token(const std::string& path);

}  // namespace ps::sidecar::server
