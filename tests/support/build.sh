#!/usr/bin/env bash
# Configures and builds the project into $PS_BUILD_DIR (default: <repo>/build).
# Extra arguments go to cmake's configure step (e.g. -DPS_SANITIZE=address,undefined).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
build=${PS_BUILD_DIR:-$repo/build}
cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE="${PS_BUILD_TYPE:-RelWithDebInfo}" "$@" >/dev/null
cmake --build "$build" -j"$(nproc)"
