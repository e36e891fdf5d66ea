// Standard Webhooks (https://www.standardwebhooks.com/) signature verification.
//
//   webhook-id:        the message id (also the idempotency key)
//   webhook-timestamp: Unix seconds, as decimal digits
//   webhook-signature: space-separated entries "v1,<base64 HMAC-SHA256>"; other versions
//                      ("v1a,..." asymmetric, unknown) are ignored
//   signed content:    "<webhook-id>.<webhook-timestamp>.<raw body>"
//   key:               the base64-decoded part of a "whsec_<base64>" secret
//
// Several secrets may be active at once (rotation): a message is authentic when any "v1"
// entry matches the HMAC under any secret. Comparisons are constant-time (CRYPTO_memcmp) over
// equal-length digests. A timestamp more than `tolerance` away from now, in either direction,
// is refused. Messages and errors never contain a secret or a signature.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/status.h"

namespace ps::sidecar::server {

// A decoded signing key. Holds key bytes: never logged, no stream operator.
class WebhookSecret {
 public:
  // Parses "whsec_<base64>"; invalid_argument (without the value) when malformed or empty.
  static engine::Result<WebhookSecret> parse(std::string_view text);
  const std::string& key() const { return key_; }

 private:
  explicit WebhookSecret(std::string key) : key_(std::move(key)) {}
  std::string key_;
};

// Reads a secrets file: one "whsec_..." per line; blank lines and lines starting with '#'
// are skipped. Refused (invalid_argument, naming the path and the line number, never the
// content) when unreadable, readable by group or others, empty, or a line is malformed.
engine::Result<std::vector<WebhookSecret>> load_webhook_secrets(const std::string& path);

enum class SignatureVerdict {
  ok,
  missing_headers,    // webhook-id, webhook-timestamp or webhook-signature absent or empty
  bad_timestamp,      // not decimal Unix seconds
  stale,              // older than the tolerance
  future,             // further ahead than the tolerance
  no_valid_signature, // no v1 entry matches under any secret
};

// A short reason for the audit trail and the 401 body (never a secret).
const char* verdict_reason(SignatureVerdict v);

struct SignedMessage {
  std::string_view id;
  std::string_view timestamp;  // the header as received
  std::string_view signature;  // the header as received
  std::string_view body;       // raw bytes
};

// Verifies `message` at `now` (Unix seconds) against `secrets`.
SignatureVerdict verify_webhook(const SignedMessage& message,
                                const std::vector<WebhookSecret>& secrets,
                                std::int64_t now_unix, std::int64_t tolerance_s);

// The header value a sender computes: "v1,<base64 HMAC-SHA256(key, id.ts.body)>".
// (Tests, the load generator and docs use it.)
std::string sign_webhook(const WebhookSecret& secret, std::string_view id,
                         std::string_view timestamp, std::string_view body);

// Strict base64 (standard alphabet, padding required to a multiple of 4); nullopt if invalid.
std::optional<std::string> base64_decode(std::string_view text);
std::string base64_encode(std::string_view bytes);
// Lowercase hex SHA-256 of `bytes`.
std::string sha256_hex(std::string_view bytes);
// Constant-time equality of two strings (length is not secret).
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace ps::sidecar::server
