// Small helpers the emulator core shares: Vault's error-text formats, Go-compatible time and
// duration text, random identifiers, CIDR matching, and the Status for a failed file operation.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/base/status.h"

namespace ps::vault::emulator {

// A failed file or socket operation: `message` + ": " + strerror(err), coded not_found
// (ENOENT), permission_denied (EACCES, EPERM) or unavailable (anything else).
ps::Status io_error(int err, std::string message);

// JSON text that never throws: invalid UTF-8 from clients becomes U+FFFD.
inline std::string safe_dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

using WallTime = std::chrono::system_clock::time_point;

// go-multierror's text: "1 error occurred:\n\t* msg\n\n" (what Vault returns for Go errors).
std::string multierror(const std::vector<std::string>& messages);
inline std::string multierror(const std::string& message) { return multierror(std::vector{message}); }

// Go's time.Duration.String() for whole seconds: "0s", "1m30s", "768h0m0s".
std::string go_duration(std::int64_t seconds);
// parseutil.ParseDurationSecond for strings: "90", "90s", "1h30m", "1.5h", "2d". nullopt on error.
std::optional<std::int64_t> parse_duration_seconds(std::string_view text);
// strconv.ParseBool.
std::optional<bool> parse_go_bool(std::string_view text);

// RFC 3339 with nanoseconds, trailing zeros trimmed, UTC ("2026-01-02T03:04:05.123Z"), as Go's
// time.Time marshals. The zero time (epoch of year 1) prints "0001-01-01T00:00:00Z".
std::string rfc3339_nano(WallTime t);
// Milliseconds, always three digits ("2026-01-02T03:04:05.678Z"), for logs.
std::string rfc3339_millis(WallTime t);
std::int64_t unix_seconds(WallTime t);

// Cryptographically random identifiers (OpenSSL RAND_bytes).
std::string random_uuid();
std::string random_base62(std::size_t length);

std::string to_lower(std::string_view s);
std::string trim(std::string_view s);
bool starts_with(std::string_view s, std::string_view prefix);
bool ends_with(std::string_view s, std::string_view suffix);
std::vector<std::string> split(std::string_view s, char sep);
std::string join(const std::vector<std::string>& parts, std::string_view sep);

// policyutil.SanitizePolicies: trim, lowercase, drop empties, dedupe, sort; optionally add
// "default". A list containing "root" becomes just ["root"].
std::vector<std::string> sanitize_policies(const std::vector<std::string>& in, bool add_default);

// CIDR helpers (IPv4 and IPv6). A bare address counts as a /32 or /128 block.
bool valid_cidr(std::string_view cidr);
bool ip_in_cidr(std::string_view ip, std::string_view cidr);
bool ip_in_any_cidr(std::string_view ip, const std::vector<std::string>& cidrs);
// True when every block in `inner` lies inside some block of `outer` (empty lists: true).
bool cidrs_subset(const std::vector<std::string>& inner, const std::vector<std::string>& outer);

// Percent-decoding of a URL path; nullopt for a malformed escape (Go answers 400).
std::optional<std::string> percent_decode(std::string_view s);
// Go's path.Clean as net/http's ServeMux applies it (keeps a trailing slash).
std::string clean_url_path(std::string_view p);

}  // namespace ps::vault::emulator
