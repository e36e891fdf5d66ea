#!/usr/bin/env bash
# Benchmark of Vault sync (not a CTest test): the real policy-sidecar against the real
# vault-emulator over TLS (dev PKI) on 127.0.0.1.
#
#   tests/bench/bench_sync.sh            (PS_BENCH_SYNC_AGENTS=10000, PS_BENCH_CURL_AGENTS=1000,
#                                         PS_BENCH_RECONCILE_BIG=100000; 0 skips the big one;
#                                         PS_BENCH_RECONCILE_READERS=4 its readers)
#
# Measured, in one run:
#   sync      `policy-sidecar sync` pushing N agents whose desired list changed, with
#             roles.exclusive (so each push is exactly one write + one read-back, the per-field
#             endpoint), one worker = one kept-alive TLS connection, no rate limit. The time is
#             the whole command: process start, claims, pushes, ledger marks.
#   sync/3    the same without roles.exclusive (read, write, read back: 3 requests per agent).
#   curl      a shell loop doing the same two requests per agent with curl (a new process and
#             TLS handshake per request, as a user would script it), over the first
#             PS_BENCH_CURL_AGENTS agents (rates are compared, each measured on its own count).
#   reconcile a full `policy-sidecar reconcile` (drift mode detect, 4 readers) of N roles and
#             of PS_BENCH_RECONCILE_BIG roles.
#   latency   `sync` of N agents with PS_BENCH_WORKERS workers (default 32; a first 0 ms round
#             with PS_BENCH_FAST_WORKERS, default 16) while the emulator
#             adds 0 ms and PS_BENCH_WRITE_MS (default 5 ms) to every write: free (writes wait
#             side by side) and serialised (one Raft-like commit at a time, batched); see the
#             emulator's latency model in vault/emulator/README.md.
# Setup (roles created by the sidecar itself, missing_role=create) is timed and shown too.
# Needs the project built (tests/support/build.sh) and curl.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
build=${PS_BUILD_DIR:-$repo/build}
n=${PS_BENCH_SYNC_AGENTS:-10000}
n_curl=${PS_BENCH_CURL_AGENTS:-1000}
n_big=${PS_BENCH_RECONCILE_BIG:-100000}
workers=${PS_BENCH_WORKERS:-32}
fast_workers=${PS_BENCH_FAST_WORKERS:-16}  # workers of the extra 0 ms round
big_readers=${PS_BENCH_RECONCILE_READERS:-4}  # reconcile.concurrency of the big reconcile
write_ms=${PS_BENCH_WRITE_MS:-5}
python=${PS_SYSTEM_PYTHON:-/usr/bin/python3}
sidecar=$build/sidecar/policy-sidecar
emulator=$build/vault/emulator/vault-emulator
for tool in "$sidecar" "$emulator" "$build/tls/ps-dev-pki"; do
  [ -x "$tool" ] || { echo "missing $tool: build first (tests/support/build.sh)" >&2; exit 1; }
done
command -v curl >/dev/null || { echo "curl missing" >&2; exit 1; }

work=$(mktemp -d)
emu_pid=
cleanup() {
  [ -n "$emu_pid" ] && kill "$emu_pid" 2>/dev/null && wait "$emu_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", n / s }'; }

"$build/tls/ps-dev-pki" "$work/pki" >/dev/null
"$emulator" --listen 127.0.0.1:0 --tls-cert "$work/pki/server.pem" \
  --tls-key "$work/pki/server-key.pem" --dev --dev-root-token bench-root --admin-token bench-admin \
  >"$work/emu.out" 2>"$work/emu.err" &
emu_pid=$!
for _ in $(seq 100); do grep -q VAULT_ADDR "$work/emu.out" && break; sleep 0.05; done
addr=$(sed -n 's/^VAULT_ADDR=//p' "$work/emu.out")
[ -n "$addr" ] || { echo "emulator did not start: $(cat "$work/emu.err")" >&2; exit 1; }
export VAULT_ADDR=$addr VAULT_CACERT=$work/pki/ca.pem VAULT_TOKEN=bench-root

# ledger with $2 agents "b<prefix>NNNNNN" at tier 0
make_ledger() {
  "$python" - "$1" "$2" "$3" "$repo/tests/support/reference/upstream-schema.sql" <<'PY'
import sqlite3, sys
path, n, prefix, schema = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
c = sqlite3.connect(path)
c.executescript(open(schema).read())
c.executemany("INSERT INTO agent_metrics (agent_id, current_tier) VALUES (?, 0)",
              [("%s%06d" % (prefix, i),) for i in range(n)])
c.commit()
PY
}

# config: $1 file, $2 exclusive (true/false), $3 tier-0 policy name, $4 sync workers (default 1)
write_config() {
  cat >"$1" <<EOF
{"roles": {"missing_role": "create", "exclusive": $2,
           "tier_policies": {"0": ["$3"], "1": ["t1-observer"], "2": ["t2-observer"],
                             "3": ["t3-observer"], "4": ["t4-observer"]}},
 "sync": {"rate_limit_per_s": 0, "batch_size": 500, "workers": ${4:-1}},
 "reconcile": {"drift_mode": "correct", "concurrency": 4, "page_size": 1000}}
EOF
}

run() { "$sidecar" "$@" >"$work/last.out" 2>"$work/last.err" || {
  echo "policy-sidecar $* failed: $(cat "$work/last.out" "$work/last.err")" >&2; exit 1; }; }

echo "== setup: $n agents, roles created by the sidecar (missing_role=create)"
db=$work/sync.db
make_ledger "$db" "$n" b
write_config "$work/setup.json" true t0-observer
run --db "$db" --config "$work/setup.json" migrate
t0=$(now); run --db "$db" --config "$work/setup.json" reconcile; t1=$(now)
echo "reconcile (queues $n creations): $(elapsed "$t0" "$t1") s"
t0=$(now); run --db "$db" --config "$work/setup.json" sync; t1=$(now)
echo "sync creating $n roles (read, create, read back): $(elapsed "$t0" "$t1") s"

echo "== sync: $n agents, one write + one read-back each, one keep-alive TLS connection"
write_config "$work/bench.json" true t0-observer-v2
run --db "$db" --config "$work/bench.json" reconcile  # one new generation per agent
t0=$(now); run --db "$db" --config "$work/bench.json" sync; t1=$(now)
sync_s=$(elapsed "$t0" "$t1")
grep -q "Synced $n agents" "$work/last.out" || { cat "$work/last.out"; exit 1; }
sync_rate=$(rate "$n" "$sync_s")
echo "policy-sidecar sync: $n agents in $sync_s s = $sync_rate agents/s"

write_config "$work/bench3.json" false t0-observer-v3
run --db "$db" --config "$work/bench3.json" reconcile
t0=$(now); run --db "$db" --config "$work/bench3.json" sync; t1=$(now)
sync3_s=$(elapsed "$t0" "$t1")
echo "policy-sidecar sync (non-exclusive: read, write, read back): $n agents in $sync3_s s" \
     "= $(rate "$n" "$sync3_s") agents/s"

# The emulator's latency model: $1 write ms, $2 serialise (true/false).
set_latency() {
  curl -sf --cacert "$VAULT_CACERT" -H "X-Emulator-Admin-Token: bench-admin" -X POST \
    -d "{\"write_ms\": $1, \"serialize_writes\": $2}" "$VAULT_ADDR/_emulator/latency" -o /dev/null
}
echo "== sync under emulated write latency: $n agents, $workers workers, write + read-back each"
round=0
# Each model: write ms, serialise, workers. The first round is the same 0 ms with fewer
# workers: on a small machine extra workers only cost CPU when Vault answers at once.
for model in "0 false $fast_workers" "0 false $workers" "$write_ms false $workers" \
             "$write_ms true $workers"; do
  set -- $model
  round=$((round + 1))
  write_config "$work/lat.json" true "t0-observer-lat$round" "$3"
  run --db "$db" --config "$work/lat.json" reconcile
  set_latency "$1" "$2"
  t0=$(now); run --db "$db" --config "$work/lat.json" sync; t1=$(now)
  set_latency 0 false
  grep -q "Synced $n agents" "$work/last.out" || { cat "$work/last.out"; exit 1; }
  kind=$([ "$2" = true ] && echo serialised || echo free)
  echo "sync at $1 ms write latency ($kind), $3 workers: $n agents in" \
       "$(elapsed "$t0" "$t1") s = $(rate "$n" "$(elapsed "$t0" "$t1")") agents/s"
done

echo "== curl loop: the same two requests per agent, $n_curl agents"
t0=$(now)
for i in $(seq 0 $((n_curl - 1))); do
  role=$(printf 'agent-b%06d' "$i")
  curl -sf --cacert "$VAULT_CACERT" -H "X-Vault-Token: $VAULT_TOKEN" -X POST \
    -d '{"token_policies":["t0-observer-v4"]}' "$VAULT_ADDR/v1/auth/approle/role/$role/policies" \
    -o /dev/null
  curl -sf --cacert "$VAULT_CACERT" -H "X-Vault-Token: $VAULT_TOKEN" \
    "$VAULT_ADDR/v1/auth/approle/role/$role/policies" -o /dev/null
done
t1=$(now)
curl_s=$(elapsed "$t0" "$t1")
curl_rate=$(rate "$n_curl" "$curl_s")
echo "curl loop: $n_curl agents in $curl_s s = $curl_rate agents/s"
echo "ratio: $(awk -v a="$sync_rate" -v b="$curl_rate" 'BEGIN { printf "%.1f", a / b }')x"

echo "== reconcile: full pass over $n roles (drift mode detect)"
cat >"$work/detect.json" <<'EOF'
{"roles": {"tier_policies": {"0": ["t0-observer-v3"], "1": ["t1-observer"],
  "2": ["t2-observer"], "3": ["t3-observer"], "4": ["t4-observer"]}},
 "sync": {"rate_limit_per_s": 0},
 "reconcile": {"drift_mode": "detect", "concurrency": 4, "page_size": 1000}}
EOF
# the curl loop changed its agents' roles: restore them first so the pass finds no drift
run --db "$db" --config "$work/bench3.json" reconcile
run --db "$db" --config "$work/bench3.json" sync
t0=$(now); run --db "$db" --config "$work/detect.json" reconcile; t1=$(now)
echo "reconcile $n roles: $(elapsed "$t0" "$t1") s ($(tail -1 "$work/last.out"))"

if [ "$n_big" -gt 0 ]; then
  echo "== reconcile: full pass over $n_big roles"
  big=$work/big.db
  make_ledger "$big" "$n_big" c
  run --db "$big" --config "$work/setup.json" migrate
  t0=$(now); run --db "$big" --config "$work/setup.json" reconcile
  run --db "$big" --config "$work/setup.json" sync; t1=$(now)
  echo "setup: $n_big roles created by the sidecar in $(elapsed "$t0" "$t1") s"
  cat >"$work/detect-big.json" <<EOF
{"sync": {"rate_limit_per_s": 0},
 "reconcile": {"drift_mode": "detect", "concurrency": $big_readers, "page_size": 1000}}
EOF
  t0=$(now); run --db "$big" --config "$work/detect-big.json" reconcile; t1=$(now)
  echo "  ($big_readers readers)"
  echo "reconcile $n_big roles: $(elapsed "$t0" "$t1") s ($(tail -1 "$work/last.out"))"
fi

echo "== freeze: $n agents at tier 1; freeze --all, then sync ($workers workers) at $write_ms ms per write, serialised"
"$python" - "$db" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("UPDATE agent_metrics SET current_tier = 1")  # the platform's state before the freeze
c.commit()
PY
write_config "$work/freeze.json" true t0-observer-frz "$workers"
run --db "$db" --config "$work/freeze.json" reconcile  # drift correct: every role to tier 1
run --db "$db" --config "$work/freeze.json" sync
set_latency "$write_ms" true
t0=$(now)
run --db "$db" --config "$work/freeze.json" freeze --all --reason "bench" --by bench
run --db "$db" --config "$work/freeze.json" sync
t1=$(now)
set_latency 0 false
grep -q "Synced $n agents" "$work/last.out" || { cat "$work/last.out"; exit 1; }
echo "freeze of $n agents applied in Vault (policies, then the secret-id revocation step):" \
     "$(elapsed "$t0" "$t1") s ($(tr '\n' ' ' <"$work/last.out"))"
