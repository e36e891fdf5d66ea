// Lets Boost.Test print engine enums in failure messages.
#pragma once

#include <ostream>

#include "engine/rules.h"
#include "engine/status.h"

namespace ps::engine {
inline std::ostream& operator<<(std::ostream& os, Code c) { return os << code_name(c); }
inline std::ostream& operator<<(std::ostream& os, PromotionStatus s) { return os << status_name(s); }
}  // namespace ps::engine
