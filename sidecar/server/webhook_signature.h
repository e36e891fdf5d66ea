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

#include "sidecar/config/secret_files.h"  // WebhookSecret

namespace ps::sidecar::server {

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

}  // namespace ps::sidecar::server
