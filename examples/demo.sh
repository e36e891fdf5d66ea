#!/usr/bin/env bash
# The policy-sidecar demo, from a fresh clone, in one command:
#
#   examples/demo.sh
#
# Installs what is missing (Debian packages), builds, generates a small random governance
# ledger in a temporary directory, and walks through the reference engine's commands as
# policy-sidecar runs them: requirements, eligible, evaluate, promote, history.
# Nothing outside the temporary directory (and the build directory) is touched.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
"$repo/tests/support/ensure_deps.sh"
echo "building (first time: a few minutes)..."
"$repo/tests/support/build.sh"
build=${PS_BUILD_DIR:-$repo/build}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export POLICY_SIDECAR_DB=$work/governance.db  # instead of --db on every command
sidecar=$build/sidecar/policy-sidecar

if [ -t 1 ]; then bold=$'\e[1m'; off=$'\e[0m'; else bold=; off=; fi
say() { printf '\n%s== %s%s\n' "$bold" "$*" "$off"; }
run() {
  printf '%s$ policy-sidecar %s%s\n' "$bold" "$*" "$off"
  "$sidecar" "$@"
}

say "A ledger as the governance platform writes it: 30 agents, 1500 actions over ~60 days"
"$build/tests/support/ps-gen-ledger" --out "$POLICY_SIDECAR_DB" --agents 30 --actions 1500 --seed 42
echo "(POLICY_SIDECAR_DB=$POLICY_SIDECAR_DB)"

say "The promotion rules: the reference engine's table (a --config file can override it)"
run requirements

say "Who has earned the next tier? Evaluated from the last 30 days of the ledger."
echo "[READY] needs one approver; [REVIEW] tiers need a manual review first."
run eligible

# (awk, not head: closing the pipe early would fail the pipeline under pipefail)
agent=$("$sidecar" eligible | sed -n 's/^\[READY\] //p' | awk 'NR == 1')
tier=$("$sidecar" evaluate "$agent" | sed -n 's/^Current Tier: //p')
say "Why $agent is ready: each requirement, met or missing"
run evaluate "$agent"

say "The same evaluation as JSON (the reference's keys, in its order; first lines)"
"$sidecar" evaluate "$agent" --json | awk 'NR <= 20'
echo "  ..."

say "Promote it: one ledger transaction (re-evaluated inside it; the first write also adds"
echo "the sidecar's indexes to the ledger, once)"
run promote "$agent" --approved-by demo-operator --rationale "demo: criteria reviewed"

say "A second approval of the same step changes nothing"
run promote "$agent" --approved-by someone-else --from-tier "$tier" || true

say "Not every agent qualifies; here is one that does not, and why"
other=$("$sidecar" evaluate agent-000001 | grep -q 'Status: NOT_ELIGIBLE' && echo agent-000001 || echo agent-000002)
run evaluate "$other"

say "Promotion history, newest first"
run history --limit 3

say "Done. Try: $sidecar --db <ledger> --help"
