#include "sidecar/server/webhook_signature.h"

#include "tls/digest.h"

namespace ps::sidecar::server {
namespace {

using tls::base64_decode;
using tls::base64_encode;
using tls::constant_time_equal;


constexpr std::size_t kDigestBytes = 32;

std::string signature_hmac(const std::string& key, std::string_view id, std::string_view ts,
                           std::string_view body) {
  std::string content;
  content.reserve(id.size() + ts.size() + body.size() + 2);
  content.append(id).append(".").append(ts).append(".").append(body);
  return tls::hmac_sha256(key, content);  // "" on failure: never equal to a 32-byte digest
}

}  // namespace

const char* verdict_reason(SignatureVerdict v) {
  switch (v) {
    case SignatureVerdict::ok: return "ok";
    case SignatureVerdict::missing_headers:
      return "missing webhook-id, webhook-timestamp or webhook-signature header";
    case SignatureVerdict::bad_timestamp: return "webhook-timestamp is not Unix seconds";
    case SignatureVerdict::stale: return "webhook-timestamp is too old";
    case SignatureVerdict::future: return "webhook-timestamp is too far in the future";
    case SignatureVerdict::no_valid_signature: return "no valid signature";
  }
  return "invalid";
}

SignatureVerdict verify_webhook(const SignedMessage& m, const std::vector<WebhookSecret>& secrets,
                                std::int64_t now_unix, std::int64_t tolerance_s) {
  if (m.id.empty() || m.timestamp.empty() || m.signature.empty()) {
    return SignatureVerdict::missing_headers;
  }
  if (m.timestamp.size() > 15) return SignatureVerdict::bad_timestamp;
  std::int64_t ts = 0;
  for (char c : m.timestamp) {
    if (c < '0' || c > '9') return SignatureVerdict::bad_timestamp;
    ts = ts * 10 + (c - '0');
  }
  if (ts < now_unix - tolerance_s) return SignatureVerdict::stale;
  if (ts > now_unix + tolerance_s) return SignatureVerdict::future;

  std::vector<std::string> expected;
  expected.reserve(secrets.size());
  for (const auto& s : secrets) expected.push_back(signature_hmac(s.key(), m.id, m.timestamp, m.body));

  std::string_view rest = m.signature;
  while (!rest.empty()) {
    const auto sp = rest.find(' ');
    const std::string_view entry = rest.substr(0, sp);
    rest = sp == std::string_view::npos ? std::string_view{} : rest.substr(sp + 1);
    const auto comma = entry.find(',');
    if (comma == std::string_view::npos || entry.substr(0, comma) != "v1") continue;
    auto sig = base64_decode(entry.substr(comma + 1));
    if (!sig || sig->size() != kDigestBytes) continue;
    for (const auto& e : expected) {
      if (constant_time_equal(*sig, e)) return SignatureVerdict::ok;
    }
  }
  return SignatureVerdict::no_valid_signature;
}

std::string sign_webhook(const WebhookSecret& secret, std::string_view id,
                         std::string_view timestamp, std::string_view body) {
  return "v1," + base64_encode(signature_hmac(secret.key(), id, timestamp, body));
}

}  // namespace ps::sidecar::server
