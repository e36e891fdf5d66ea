#include "sidecar/server/webhook_signature.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "sidecar/server/secret_files.h"

namespace ps::sidecar::server {
namespace {

using engine::Code;
using engine::Status;

constexpr std::string_view kSecretPrefix = "whsec_";
constexpr std::size_t kDigestBytes = 32;

int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

std::string hmac_sha256(const std::string& key, std::string_view id, std::string_view ts,
                        std::string_view body) {
  std::string content;
  content.reserve(id.size() + ts.size() + body.size() + 2);
  content.append(id).append(".").append(ts).append(".").append(body);
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(content.data()), content.size(), out, &len) ==
      nullptr) {
    return {};  // never equal to a decoded 32-byte signature
  }
  return std::string(reinterpret_cast<const char*>(out), len);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = text[i + static_cast<std::size_t>(k)];
      if (c == '=') {
        // Padding only in the last quantum, only in its last two places, and only trailing.
        if (i + 4 != text.size() || k < 2) return std::nullopt;
        v[k] = 0;
        ++pad;
      } else {
        if (pad > 0) return std::nullopt;
        v[k] = b64_value(c);
        if (v[k] < 0) return std::nullopt;
      }
    }
    const unsigned n = (static_cast<unsigned>(v[0]) << 18) | (static_cast<unsigned>(v[1]) << 12) |
                       (static_cast<unsigned>(v[2]) << 6) | static_cast<unsigned>(v[3]);
    out.push_back(static_cast<char>((n >> 16) & 0xFF));
    if (pad < 2) out.push_back(static_cast<char>((n >> 8) & 0xFF));
    if (pad < 1) out.push_back(static_cast<char>(n & 0xFF));
  }
  return out;
}

std::string base64_encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  return out;
}

std::string sha256_hex(std::string_view bytes) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned char b : digest) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 0xF]);
  }
  return out;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

engine::Result<WebhookSecret> WebhookSecret::parse(std::string_view text) {
  if (text.substr(0, kSecretPrefix.size()) != kSecretPrefix) {
    return Status(Code::invalid_argument, "a webhook secret must start with whsec_");
  }
  auto key = base64_decode(text.substr(kSecretPrefix.size()));
  if (!key || key->empty()) {
    return Status(Code::invalid_argument, "a webhook secret must be whsec_ followed by base64");
  }
  return WebhookSecret(std::move(*key));
}

engine::Result<std::vector<WebhookSecret>> load_webhook_secrets(const std::string& path) {
  auto text = read_private_file(path, "webhook.secrets_file");
  if (!text.ok()) return text.status();
  std::vector<WebhookSecret> secrets;
  std::size_t line_no = 0;
  std::string_view rest = *text;
  while (!rest.empty()) {
    const auto nl = rest.find('\n');
    std::string_view line = trim(rest.substr(0, nl));
    rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
    ++line_no;
    if (line.empty() || line[0] == '#') continue;
    auto secret = WebhookSecret::parse(line);
    if (!secret.ok()) {
      return Status(Code::invalid_argument, "webhook.secrets_file " + path + " line " +
                                                std::to_string(line_no) + ": " +
                                                secret.status().message());
    }
    secrets.push_back(std::move(secret).value());
  }
  if (secrets.empty()) {
    return Status(Code::invalid_argument, "webhook.secrets_file " + path + " holds no secret");
  }
  return secrets;
}

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
  for (const auto& s : secrets) expected.push_back(hmac_sha256(s.key(), m.id, m.timestamp, m.body));

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
  return "v1," + base64_encode(hmac_sha256(secret.key(), id, timestamp, body));
}

}  // namespace ps::sidecar::server
