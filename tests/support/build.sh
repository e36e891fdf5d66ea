#!/usr/bin/env bash
# Configures and builds the project into $PS_BUILD_DIR (default: <repo>/build), build type
# $PS_BUILD_TYPE (default RelWithDebInfo), warnings as errors (-DPS_WERROR=ON: this is the
# build tests/run.sh and CI use; the project's default is off).
# Extra arguments go to cmake's configure step (e.g. -DPS_SANITIZE=address,undefined, or
# -DPS_WERROR=OFF).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
build=${PS_BUILD_DIR:-$repo/build}
cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE="${PS_BUILD_TYPE:-RelWithDebInfo}" -DPS_WERROR=ON \
  "$@" >/dev/null
cmake --build "$build" -j"$(nproc)"
