#!/usr/bin/env bash
# Installs the Debian packages policy-sidecar needs to build, test and run the demo.
# As root: apt-get update once, then apt-get install of what is missing.
# Not root: prints the exact sudo line and exits 1. Nothing is ever downloaded at build time.
#   --sanitizers  also clang-14 and its runtimes (libFuzzer, ASan, UBSan, TSan), for the
#                 sanitizer and fuzz builds of .ci/run; the default test run does not need them.
set -euo pipefail

PS_DEBIAN_PACKAGES=(
  build-essential cmake pkg-config ninja-build  # ninja: examples/demo.sh builds with it
  libcpp-httplib-dev libssl-dev libsqlite3-dev nlohmann-json3-dev libboost-dev libboost-test-dev
  openssl curl sqlite3 python3 python3-hvac
  help2man dpkg-dev lintian man-db systemd  # the man page; the Debian package (dpkg-shlibdeps), its check (lintian, systemd-analyze verify)
  prometheus  # promtool: the tests check examples/prometheus/ (the server is not started)
)
if [ "${1:-}" = "--sanitizers" ]; then
  PS_DEBIAN_PACKAGES+=(clang-14 libclang-rt-14-dev)
fi

missing=()
for p in "${PS_DEBIAN_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "policy-sidecar needs these Debian packages. Install them with:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
