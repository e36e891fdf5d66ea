#!/usr/bin/env bash
# The whole test suite: installs missing Debian packages, builds, runs CTest.
# Exits non-zero on any failure. Extra arguments are passed to ctest (e.g. -L unit, -R engine).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
"$repo/tests/support/ensure_deps.sh"
"$repo/tests/support/build.sh"
build=${PS_BUILD_DIR:-$repo/build}
cd "$build"
ctest --output-on-failure -j"$(nproc)" "$@"
