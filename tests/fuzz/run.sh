#!/usr/bin/env bash
# Runs every libFuzzer target for a fixed time and fails on any crash, leak, timeout or
# sanitizer report. Usage: tests/fuzz/run.sh [seconds per target, default 60]
#   PS_FUZZ_BUILD_DIR  the PS_FUZZ build (default <repo>/build-fuzz; built here if missing)
#   PS_FUZZ_JOBS       targets run in parallel (default: nproc)
#   PS_FUZZ_TARGETS    space-separated subset of the targets (default: all)
# Each target starts from its checked-in seed corpus (tests/fuzz/corpus/<target>/, never
# written: new inputs go to a scratch directory). A crashing input is kept as
# $PS_FUZZ_BUILD_DIR/fuzz-artifacts/<target>/crash-*; turn it into a named regression test in
# the unit suite. Prints executions per target.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
seconds=${1:-60}
build=${PS_FUZZ_BUILD_DIR:-$repo/build-fuzz}
jobs=${PS_FUZZ_JOBS:-$(nproc)}
targets=(webhook_fuzz config_fuzz vault_response_fuzz role_names_fuzz timestamp_fuzz
         emulator_hcl_fuzz emulator_http_fuzz)
if [ -n "${PS_FUZZ_TARGETS:-}" ]; then
  read -r -a targets <<<"$PS_FUZZ_TARGETS"
fi

"$repo/tests/support/ensure_deps.sh" --sanitizers
if [ ! -x "$build/tests/fuzz/${targets[0]}" ]; then
  CC=clang-14 CXX=clang++-14 PS_BUILD_DIR=$build "$repo/tests/support/build.sh" -DPS_FUZZ=ON
fi

out=$build/fuzz-artifacts
rm -rf "$out"
run_one() {
  local t=$1 dir=$out/$1
  mkdir -p "$dir/new"
  # -max_total_time bounds the run; -timeout flags one input running over 10 s as a hang;
  # -rss_limit_mb a runaway allocation. Logs end with libFuzzer's "Done N runs" line.
  if "$build/tests/fuzz/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
       -print_final_stats=1 -artifact_prefix="$dir/" "$dir/new" "$repo/tests/fuzz/corpus/$t" \
       >"$dir/log" 2>&1; then
    echo "ok" >"$dir/result"
  else
    echo "FAILED" >"$dir/result"
  fi
}
export -f run_one
export build out seconds repo
printf '%s\n' "${targets[@]}" | xargs -P "$jobs" -I{} bash -c 'run_one {}'

failed=0
printf '%-22s %-7s %12s %10s\n' target result executions exec/s
for t in "${targets[@]}"; do
  r=$(cat "$out/$t/result")
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$t/log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$out/$t/log" | tail -1)
  printf '%-22s %-7s %12s %10s\n' "$t" "$r" "${runs:-?}" "${rate:-?}"
  if [ "$r" != ok ]; then
    failed=1
    echo "--- $t (log: $out/$t/log)" >&2
    grep -E 'ERROR|SUMMARY|crash-|leak-|timeout-|oom-' "$out/$t/log" | head -20 >&2 || true
  fi
done
exit $failed
