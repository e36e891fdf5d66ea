// Wall-clock instants as the ledger and the reference engine write them.
//
// The ledger's timestamps are Python's datetime.isoformat() of an aware UTC datetime:
// "2026-11-25T10:15:30.123456+00:00" (the fraction is omitted when it is zero). The sidecar
// writes the same shape, and binds `now` in that shape to SQL so that SQLite's datetime()
// computes the 30-day window exactly as the reference engine does.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace ps::engine {

using WallTime = std::chrono::system_clock::time_point;

// Parses an ISO-8601 date-time: YYYY-MM-DD, optionally followed by 'T' or ' ' and
// HH:MM[:SS[.fraction]], optionally followed by 'Z' or an offset +hh:mm / +hhmm / +hh.
// A time without an offset is taken as UTC (as SQLite does). Fractions beyond microseconds
// are truncated. Returns nullopt for anything else (including out-of-range fields, and instants
// a WallTime cannot hold: with libstdc++'s nanosecond clock, before 1677-09-22 or after
// 2262-04-11 UTC, e.g. Python's datetime.min "0001-01-01T00:00:00").
std::optional<WallTime> parse_iso8601(std::string_view text);

// Python's datetime.isoformat() of `t` in UTC, truncated to microseconds.
std::string format_isoformat_utc(WallTime t);

}  // namespace ps::engine
