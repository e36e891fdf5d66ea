#!/usr/bin/env bash
# Hostile-load benchmark of serve's listener (not a test): vault-emulator and
# `policy-sidecar serve` over TLS on loopback; listener_hostile.py holds 200 hostile clients
# open from 127.0.0.2-127.0.0.254 (slowloris, silent connects, header floods, trickled
# handshakes) while forged webhooks arrive at 500/s on kept-alive connections plus 50 new
# handshakes/s, and a legitimate client on 127.0.0.1 sends signed approvals (10/s, a new TLS
# connection each, each followed by a health check on another). Reports the approval's and the
# health check's answer latency p50/p99, the daemon's peak RSS and CPU time, the audit file's
# growth and the ledger's changes (outbox rows and deliveries: only the legitimate approvals
# may add any). `listener_bench.sh 30 0 0 0` is the same client without hostile load.
#
#   tests/bench/listener_bench.sh [SECONDS=30] [HOSTILE=200] [FORGED_RATE=500] [HANDSHAKES=50]
#
# Goal: p99 < 50 ms for the legitimate approval; RSS under the bound in tests/bench/README.md.
#
# PS_BUILD_DIR: the build directory (default build/); PS_BENCH_NO_BUILD=1: use it as it is.
# PS_BENCH_JOURNAL: ledger.journal_mode (default keep, the daemon's default; wal is faster).
# PS_BENCH_DAEMON_BUILD_DIR: take policy-sidecar and vault-emulator from another build (e.g.
# one of an older commit, to compare listeners); ps-dev-pki and webhook-load still come from
# PS_BUILD_DIR. PS_SYSTEM_PYTHON: the python3 to run the generator (default /usr/bin/python3).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
build=${PS_BUILD_DIR:-$repo/build}
daemon_build=${PS_BENCH_DAEMON_BUILD_DIR:-$build}
python=${PS_SYSTEM_PYTHON:-/usr/bin/python3}
journal=${PS_BENCH_JOURNAL:-keep}
seconds=${1:-30} hostile=${2:-200} forged=${3:-500} handshakes=${4:-50}
[ -n "${PS_BENCH_NO_BUILD:-}" ] || cmake --build "$build" -j2 --target policy-sidecar vault-emulator ps-dev-pki webhook-load >/dev/null

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; [ ! -s "$work/generator.log" ] || tail -5 "$work/generator.log" >&2; rm -rf "$work"; }
trap cleanup EXIT
export PS_UPSTREAM_SCHEMA=$repo/tests/support/reference/upstream-schema.sql

"$build/tls/ps-dev-pki" "$work/pki" >/dev/null
agents=$(awk -v s="$seconds" 'BEGIN { print int(s * 10) + 50 }')
. "$repo/tests/bench/serve_env.sh"
bench_seed "$build" "$agents"
bench_start "$daemon_build" "$journal"
port=${url##*:}

count() { sqlite3 "$work/ledger.db" "SELECT (SELECT count(*) FROM sidecar_outbox) || ' ' || (SELECT count(*) FROM sidecar_webhook_deliveries)"; }
audit_size() { stat -c %s "$work/audit.jsonl" 2>/dev/null || echo 0; }
audit_lines() { cat "$work/audit.jsonl" 2>/dev/null | wc -l; }
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$serve_pid/status"; }
# utime + stime of the daemon in clock ticks (fields 14 and 15 after the command name).
cpu_ticks() { sed 's/^.*) //' "/proc/$serve_pid/stat" | awk '{print $12 + $13}'; }
# The start-up reconcile's audit records before the baseline: wait until the file stops growing.
prev=-1
for _ in $(seq 40); do cur=$(audit_size); [ "$cur" = "$prev" ] && [ "$cur" != 0 ] && break; prev=$cur; sleep 0.5; done
echo "daemon: $daemon_build/sidecar/policy-sidecar, ledger.journal_mode $journal"
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
audit_before=$(audit_size) audit_lines_before=$(audit_lines) count_before=$(count) cpu_before=$(cpu_ticks) wall_before=$(date +%s.%N)
echo "before: rss $(rss) kB, audit $audit_before bytes, outbox+deliveries $count_before"
gen_status=0
timeout $((seconds + 240)) "$python" "$repo/tests/bench/listener_hostile.py" --port "$port" \
  --ca "$work/pki/ca.pem" --secrets "$work/secrets" --pid "$serve_pid" --duration "$seconds" \
  --hostile "$hostile" --forged-rate "$forged" --handshake-rate "$handshakes" \
  >"$work/result.json" 2>"$work/generator.log" || gen_status=$?
cat "$work/result.json"
echo "generator exit status: $gen_status"
awk -v t="$(( $(cpu_ticks) - cpu_before ))" -v hz="$(getconf CLK_TCK)" -v w0="$wall_before" -v w1="$(date +%s.%N)" \
  'BEGIN { printf "daemon CPU: %.1f s over %.1f s of wall time (%.0f%% of one core)\n", t / hz, w1 - w0, 100 * t / hz / (w1 - w0) }'
echo "after: rss $(rss) kB, audit $(audit_size) bytes (+$(( $(audit_size) - audit_before ))), outbox+deliveries $(count) (before: $count_before)"
"$python" "$repo/tests/bench/listener_hostile.py" --summary "$work/result.json" || true
# The daemon's own view: connections its listener refused, and the approvals' time inside it
# (request read -> answer ready).
curl -s --max-time 10 --cacert "$work/pki/ca.pem" -H "Authorization: Bearer $(cat "$work/api-token")" \
  "$url/metrics" >"$work/metrics.txt" || true
grep '^policy_sidecar_listener_refused_total' "$work/metrics.txt" | sed 's/^/  /' || true
python3 "$repo/tests/bench/histogram_summary.py" webhook_duration_seconds <"$work/metrics.txt" || true
[ -s "$work/metrics.txt" ] || echo "  (no answer from /metrics)"
echo "audit lines written during the generator's run (warm-up included), by event:"
tail -n +$((audit_lines_before + 1)) "$work/audit.jsonl" | grep -o '"event":"[a-z_.]*"' | sort | uniq -c | sed 's/^/  /' || true
exit "$gen_status"
