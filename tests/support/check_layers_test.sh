#!/usr/bin/env bash
# The layer check catches what it must: the tree as it is passes; a copy of it with one
# deliberate upward include (a header-only one, and one in each direction that matters) fails,
# naming the file and the rule.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
check="$repo/tests/support/check_layers.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$check" "$repo" || { echo "FAIL: the repository itself breaks the layer rule"; exit 1; }

expect_refused() {  # <file to edit> <header to include> <text the error must contain>
  rm -rf "$work/tree" && mkdir -p "$work/tree"
  cp -r "$repo/engine" "$repo/tls" "$repo/vault" "$repo/sidecar" "$work/tree/"
  printf '#include "%s"\n' "$2" >> "$work/tree/$1"
  if "$check" "$work/tree" 2> "$work/err"; then
    echo "FAIL: $1 including $2 was accepted"; exit 1
  fi
  grep -qF "$3" "$work/err" || { echo "FAIL: unexpected message:"; cat "$work/err"; exit 1; }
  echo "refused as expected: $(head -n 1 "$work/err")"
}

expect_refused sidecar/sync/events.h sidecar/server/daemon.h \
  "sidecar/sync/events.h:"
expect_refused sidecar/config/settings.h sidecar/sync/ledger_pool.h "sidecar/config may include only"
expect_refused engine/rules/rules.h engine/ledger/sqlite.h "engine/rules may include only"
expect_refused engine/base/status.h tls/tls.h "engine/base may include only"
expect_refused vault/client.h vault/emulator/emulator.h "vault may include only"
expect_refused vault/emulator/core.h vault/client.h "vault/emulator may include only"
expect_refused tls/tls.h tests/support/simulated_clock.h "outside the production layers"
echo "ok"
