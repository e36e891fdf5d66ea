// Lets Boost.Test print status codes and engine enums in failure messages.
#pragma once

#include <ostream>

#include "engine/rules/rules.h"
#include "engine/base/status.h"

namespace ps {
inline std::ostream& operator<<(std::ostream& os, Code c) { return os << code_name(c); }
}  // namespace ps

namespace ps::engine {
inline std::ostream& operator<<(std::ostream& os, PromotionStatus s) { return os << status_name(s); }
}  // namespace ps::engine
