// Digests and encodings on OpenSSL, for callers above tls/ that must not include OpenSSL
// themselves: SHA-256, HMAC-SHA256, strict base64, constant-time comparison.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace ps::tls {

// Strict base64 (standard alphabet, padding required to a multiple of 4); nullopt if invalid.
std::optional<std::string> base64_decode(std::string_view text);
std::string base64_encode(std::string_view bytes);
// Lowercase hex SHA-256 of `bytes`.
std::string sha256_hex(std::string_view bytes);
// The raw 32-byte HMAC-SHA256 of `data` under `key` ("" if OpenSSL fails).
std::string hmac_sha256(std::string_view key, std::string_view data);
// Constant-time equality of two strings (length is not secret).
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace ps::tls
