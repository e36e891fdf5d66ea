// Secret files of the daemon (webhook secrets, the operator API token): read whole, refused
// like ssh refuses private keys when anyone but the owner may read or write them.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "engine/base/status.h"

namespace ps::sidecar {

// The file's content (at most 64 KiB), read by the one secret-file reader
// (engine/base/private_file.h, FileSecrecy::secret). invalid_argument naming `key` (the config
// key) and the path, never the content, when: missing or unreadable, a symbolic link, not a
// regular file (a FIFO is refused at once, never waited on), owned by anyone but this
// process's user or root, larger than the limit, or its mode grants any permission to group
// or others (fix: chmod 600).
Result<std::string> read_private_file(const std::string& path, const std::string& key);

// api.token_file: one token (surrounding whitespace dropped), 16-1024 visible ASCII bytes.
Result<std::string> load_api_token(const std::string& path);

// A decoded webhook signing key. Holds key bytes: never logged, no stream operator.
class WebhookSecret {
 public:
  // Parses "whsec_<base64>"; invalid_argument (without the value) when malformed or empty.
  static Result<WebhookSecret> parse(std::string_view text);
  const std::string& key() const { return key_; }

 private:
  explicit WebhookSecret(std::string key) : key_(std::move(key)) {}
  std::string key_;
};

// webhook.secrets_file: one "whsec_..." per line; blank lines and lines starting with '#'
// are skipped. Refused (invalid_argument, naming the path and the line number, never the
// content) when unreadable, readable by group or others, empty, or a line is malformed.
Result<std::vector<WebhookSecret>> load_webhook_secrets(const std::string& path);

}  // namespace ps::sidecar
