#!/usr/bin/env bash
# The layer rule, checked on every build (and by CTest): each folder of production code may
# #include only headers of its own layer and of the layers below it.
#
#   sidecar/cli -> sidecar/server -> sidecar/sync -> sidecar/config -> {vault, tls, engine/*}
#   vault -> tls -> engine/base          engine/ledger -> engine/rules -> engine/base
#   vault/emulator -> {tls, engine/base} (its core library links engine/base only)
#
# A header-only type counts: the check reads every #include "..." line, so an upward include
# fails even where nothing would be linked. Usage: check_layers.sh <repository root>
# Prints every violation as "file:line: ..." and exits 1 when there is one.
set -euo pipefail
root=${1:?usage: check_layers.sh <repository root>}
cd "$root"

# The most specific layer a path belongs to ("" for anything else, e.g. tests/).
layer_of() {
  case "$1" in
    engine/base/*) echo engine/base ;;
    engine/rules/*) echo engine/rules ;;
    engine/ledger/*) echo engine/ledger ;;
    tls/*) echo tls ;;
    vault/emulator/*) echo vault/emulator ;;
    vault/*) echo vault ;;
    sidecar/config/*) echo sidecar/config ;;
    sidecar/sync/*) echo sidecar/sync ;;
    sidecar/server/*) echo sidecar/server ;;
    sidecar/cli/*) echo sidecar/cli ;;
    *) echo "" ;;
  esac
}

# What each layer may include (itself and the layers below it).
declare -A allowed=(
  [engine/base]="engine/base"
  [engine/rules]="engine/base engine/rules"
  [engine/ledger]="engine/base engine/rules engine/ledger"
  [tls]="engine/base tls"
  [vault]="engine/base tls vault"
  [vault/emulator]="engine/base tls vault/emulator"
  [sidecar/config]="engine/base engine/rules engine/ledger tls vault sidecar/config"
  [sidecar/sync]="engine/base engine/rules engine/ledger tls vault sidecar/config sidecar/sync"
  [sidecar/server]="engine/base engine/rules engine/ledger tls vault sidecar/config sidecar/sync sidecar/server"
  [sidecar/cli]="engine/base engine/rules engine/ledger tls vault sidecar/config sidecar/sync sidecar/server sidecar/cli"
)

violations=0
while IFS= read -r hit; do
  file=${hit%%:*}
  rest=${hit#*:}
  line=${rest%%:*}
  target=$(sed -E 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"([^"]+)".*/\1/' <<<"${rest#*:}")
  from=$(layer_of "$file")
  [ -n "$from" ] || continue
  to=$(layer_of "$target")
  ok=0
  if [ -n "$to" ]; then
    for l in ${allowed[$from]}; do [ "$l" = "$to" ] && ok=1; done
  fi
  if [ "$ok" -eq 0 ]; then
    echo "$file:$line: includes \"$target\" (${to:-outside the production layers}), but $from may include only: ${allowed[$from]}" >&2
    violations=$((violations + 1))
  fi
done < <(grep -rnE --include='*.h' --include='*.cpp' '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' engine tls vault sidecar)

if [ "$violations" -gt 0 ]; then
  echo "check_layers: $violations include(s) against the layer order (see tests/support/check_layers.sh)" >&2
  exit 1
fi
