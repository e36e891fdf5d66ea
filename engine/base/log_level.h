// The log level every layer speaks, and the plain log callback that layers below the sidecar's
// structured Logger (tls/, vault/) receive from their caller. No formatting, no sink: the
// executable decides where lines go (sidecar/config/log.h, the emulator's main).
#pragma once

#include <functional>
#include <string_view>

namespace ps {

enum class LogLevel { debug, info, warn, error };

// A log sink injected by the executable. Messages never contain secrets.
using LogFn = std::function<void(LogLevel, std::string_view message)>;

}  // namespace ps
