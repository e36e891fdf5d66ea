#!/usr/bin/env bash
# Webhook benchmark (not a test): vault-emulator and `policy-sidecar serve` over TLS on
# loopback, and webhook-load (another process) sending signed approvals open-loop at a fixed
# rate with repeated deliveries mixed in. Reports sustained approvals/s and latency from each
# request's due time to the committed answer and to Vault verified (the sync worker's read-back).
#
#   tests/bench/webhook_bench.sh [RATE=200] [SECONDS=30] [CONNECTIONS=16] [REPEATS=0.1]
#   PS_BENCH_JOURNAL=keep tests/bench/webhook_bench.sh ...   (one mode only)
#
# By default it runs twice in one go, once per ledger journal mode: `wal` and `keep` (the
# platform's rollback journal), each on a fresh ledger, daemon and emulator.
#
# Goal: p99 <= 20 ms to the committed answer at 200 requests/s on a 2-core machine.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
build=${PS_BUILD_DIR:-$repo/build}
rate=${1:-200} seconds=${2:-30} connections=${3:-16} repeats=${4:-0.1}
journals=${PS_BENCH_JOURNAL:-wal keep}  # ledger.journal_mode values to run, in order
cmake --build "$build" -j2 --target policy-sidecar vault-emulator ps-dev-pki webhook-load >/dev/null

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
export PS_UPSTREAM_SCHEMA=$repo/tests/support/reference/upstream-schema.sql

"$build/tls/ps-dev-pki" "$work/pki" >/dev/null
. "$repo/tests/bench/serve_env.sh"

# One run on a fresh ledger, emulator and daemon: $1 journal mode.
run_mode() {
journal=$1
agents=$(awk -v r="$rate" -v s="$seconds" 'BEGIN { print int(r * s) + 10 }')
bench_seed "$build" "$agents"
bench_start "$build" "$journal"

echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); ledger.journal_mode $journal on $(df -T "$work" | awk 'NR==2 {print $2}')"
"$build/tests/bench/webhook/webhook-load" run --url "$url" --ca "$work/pki/ca.pem" \
  --secrets "$work/secrets" --agents "$agents" --rate "$rate" --duration "$seconds" \
  --connections "$connections" --duplicates "$repeats" --ledger "$work/ledger.db" \
  --vault-addr "$vault_addr" --vault-token root

echo "server side (/metrics): answer, group commit, the stages of each synced push, ledger lock waits"
curl -s --cacert "$work/pki/ca.pem" -H "Authorization: Bearer $(cat "$work/api-token")" "$url/metrics" |
  python3 "$repo/tests/bench/histogram_summary.py" webhook_duration_seconds commit_batch_size \
    commit_duration_seconds sync_stage_duration_seconds ledger_lock_wait_seconds
for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
wait 2>/dev/null || true
pids=()
}

for j in $journals; do
  echo "=== ledger.journal_mode $j"
  run_mode "$j"
done
