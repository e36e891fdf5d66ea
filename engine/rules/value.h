// A value as SQLite stores it in a ledger cell, for facts that are passed through unchanged
// (the agent_metrics row shown as evidence, promotion history rows). BLOBs are not
// representable: the adapter reports them as invalid data instead.
#pragma once

#include <cstdint>
#include <string>
#include <variant>

namespace ps::engine {

using SqlValue = std::variant<std::monostate, std::int64_t, double, std::string>;

inline bool is_null(const SqlValue& v) { return std::holds_alternative<std::monostate>(v); }

}  // namespace ps::engine
