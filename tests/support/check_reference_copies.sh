#!/usr/bin/env bash
# Fails when the vendored reference files differ from the platform's originals (when present).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
shared=${PS_SHARED_DIR:-$here/../../../shared}
status=0
check() {
  local copy=$1 orig=$2
  if [ -f "$orig" ]; then
    if ! cmp -s "$copy" "$orig"; then
      echo "vendored copy $copy differs from $orig" >&2
      status=1
    fi
  else
    echo "note: $orig not present; checking only that $copy exists"
    [ -s "$copy" ] || { echo "missing $copy" >&2; status=1; }
  fi
}
check "$here/reference/promotion_engine.py" "$shared/seed/promotion_engine.py"
check "$here/reference/upstream-schema.sql" "$shared/ledger/upstream-schema.sql"
exit $status
