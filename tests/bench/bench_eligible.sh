#!/usr/bin/env bash
# Benchmark of `policy-sidecar eligible --json` (not a CTest test).
#
#   tests/bench/bench_eligible.sh [small|large|all]     (default: all)
#
# For each size (small: 10k agents / 1M actions, large: 100k agents / 10M actions) it
# generates a ledger with ps-gen-ledger (kept in $PS_BENCH_DIR, default /tmp/ps-bench, and
# reused when present), runs `policy-sidecar migrate`, then times on the same file, with the
# same pinned `now`:
#   ours        policy-sidecar eligible --json > /dev/null  (best of $PS_BENCH_RUNS, default 5,
#               after a warm-up run; the same for every timing below except the reference),
#               with the default ledger.scan_threads (one per CPU, at most 4); also timed to
#               a file and through a pipe (output spooled until the read transaction ends),
#               and on one thread (ledger.scan_threads = 1, the sequential merge), for
#               information
#   bare        one grouped SQLite query over the same window rows, through the same index
#               (sqlite3 CLI; best of $PS_BENCH_RUNS); also the planner's own GROUP BY plan
#   reference   the reference engine through tests/support/reference_harness.py (pinned now,
#               NULL sums as 0), once; its output must be byte-identical to ours
# and prints the ratios. Exits 1 when the two outputs differ (after every size ran), so a
# benchmark of wrong answers cannot pass for a result. Needs the project built
# (tests/support/build.sh).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
build=${PS_BUILD_DIR:-$repo/build}
bench=${PS_BENCH_DIR:-/tmp/ps-bench}
runs=${PS_BENCH_RUNS:-5}
python=${PS_SYSTEM_PYTHON:-/usr/bin/python3}
now=2026-11-25T10:15:30.123456+00:00
sidecar=$build/sidecar/policy-sidecar
gen=$build/tests/support/ps-gen-ledger
export PS_REFERENCE_ENGINE=$repo/tests/support/reference/promotion_engine.py
for tool in "$sidecar" "$gen"; do
  [ -x "$tool" ] || { echo "missing $tool: build first (tests/support/build.sh)" >&2; exit 1; }
done
command -v sqlite3 >/dev/null || { echo "sqlite3 CLI missing (apt-get install sqlite3)" >&2; exit 1; }
mkdir -p "$bench"
differs=0  # set when the reference's output differs from ours for some size

# seconds (wall) of one run of "$@", stdout to $out
out=/dev/null
seconds() {
  local start end
  start=$(date +%s.%N)
  "$@" > "$out"
  end=$(date +%s.%N)
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }'
}
best_of() {  # best_of N cmd... -> minimum wall seconds, after one untimed warm-up run
  local best="" t i
  "${@:2}" > /dev/null
  for ((i = 0; i < $1; i++)); do
    t=$(seconds "${@:2}")
    if [ -z "$best" ] || awk -v t="$t" -v b="$best" 'BEGIN { exit !(t < b) }'; then best=$t; fi
  done
  echo "$best"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
min() { awk -v a="$1" -v b="$2" 'BEGIN { print (a < b ? a : b) }'; }
piped() { "$sidecar" --db "$1" --now "$now" eligible --json | cat; }
one_thread_config=$bench/one-thread.json
echo '{"ledger": {"scan_threads": 1}}' > "$one_thread_config"

window="datetime(a.timestamp) >= datetime('$now', '-30 days')"
bare_join="SELECT m.agent_id, count(*), sum(CASE WHEN a.success = 1 THEN 1 ELSE 0 END),
  sum(CASE WHEN a.decision = 'EXECUTE' AND a.success = 1 THEN 1 ELSE 0 END)
  FROM agent_metrics AS m CROSS JOIN agent_actions AS a ON a.agent_id = m.agent_id
  WHERE $window GROUP BY m.agent_id"
bare_plain="SELECT agent_id, count(*), sum(CASE WHEN success = 1 THEN 1 ELSE 0 END),
  sum(CASE WHEN decision = 'EXECUTE' AND success = 1 THEN 1 ELSE 0 END)
  FROM agent_actions WHERE datetime(timestamp) >= datetime('$now', '-30 days') GROUP BY agent_id"

run_size() {
  local name=$1 agents=$2 actions=$3
  local db=$bench/$name-${agents}a-${actions}x.db
  echo "== $name: $agents agents, $actions actions (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
  if [ ! -f "$db" ]; then
    echo "   generate: $(seconds "$gen" --out "$db" --agents "$agents" --actions "$actions" --seed 7 --now "$now") s"
  fi
  echo "   migrate:  $(seconds "$sidecar" --db "$db" migrate 2>/dev/null) s (0 when already migrated)"
  sync  # a freshly written ledger's writeback must not land in the timings
  echo "   ledger:   $(du -h "$db" | cut -f1)"
  local ours ours_file ours_pipe ours_one join plain bare ref
  ours=$(best_of "$runs" "$sidecar" --db "$db" --now "$now" eligible --json)
  out=$bench/$name.ours.json
  ours_file=$(best_of "$runs" "$sidecar" --db "$db" --now "$now" eligible --json)
  out=/dev/null
  ours_pipe=$(best_of "$runs" piped "$db")
  ours_one=$(best_of "$runs" "$sidecar" --db "$db" --config "$one_thread_config" --now "$now" eligible --json)
  join=$(best_of "$runs" sqlite3 "$db" "$bare_join")
  plain=$(best_of "$runs" sqlite3 "$db" "$bare_plain")
  bare=$join
  if awk -v p="$plain" -v j="$join" 'BEGIN { exit !(p < j) }'; then bare=$plain; fi
  echo "   ours (to /dev/null):     $ours s  ($(grep -c '^    "agent_id": ' "$bench/$name.ours.json" || true) agents listed, $(du -h "$bench/$name.ours.json" | cut -f1) of JSON)"
  echo "   ours (to a file):        $ours_file s"
  echo "   ours (through a pipe):   $ours_pipe s (spooled until the read transaction ends)"
  echo "   ours (one thread):       $ours_one s (ledger.scan_threads 1; ratio to bare $(ratio "$ours_one" "$(min "$join" "$plain")"))"
  echo "   bare grouped scan:       $join s (agent-driven join) / $plain s (planner's GROUP BY); using $bare s"
  if [ "${PS_BENCH_SKIP_REFERENCE:-0}" = 1 ]; then
    echo "   reference:               skipped (PS_BENCH_SKIP_REFERENCE=1)"
    echo "   ratio ours/bare:         $(ratio "$ours" "$bare")"
    return
  fi
  out=$bench/$name.reference.json
  ref=$(seconds "$python" "$repo/tests/support/reference_harness.py" --db "$db" --now "$now" cli eligible --json)
  out=/dev/null
  if cmp -s "$bench/$name.reference.json" "$bench/$name.ours.json"; then
    echo "   reference:               $ref s  (output byte-identical to ours)"
  else
    echo "   reference:               $ref s  (OUTPUT DIFFERS from ours)"
    echo "bench_eligible: $name: the reference's output differs from ours" \
         "(cmp $bench/$name.reference.json $bench/$name.ours.json)" >&2
    differs=1
  fi
  echo "   ratio ours/bare:         $(ratio "$ours" "$bare")   (goal <= 1.5)"
  echo "   ratio reference/ours:    $(ratio "$ref" "$ours")   (goal >= 15 at 100k agents)"
}

case "${1:-all}" in
  small) run_size small 10000 1000000 ;;
  large) run_size large 100000 10000000 ;;
  all) run_size small 10000 1000000; run_size large 100000 10000000 ;;
  *) echo "usage: $0 [small|large|all]" >&2; exit 2 ;;
esac
exit "$differs"
