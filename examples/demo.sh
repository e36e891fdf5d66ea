#!/usr/bin/env bash
# The policy-sidecar demo, from a fresh clone, in one command:
#
#   examples/demo.sh                 # PS_DEMO_KEEP=1 keeps the work dir and prints what to try next
#
# Installs what is missing (Debian packages), builds only the four programs it runs
# (policy-sidecar, vault-emulator, ps-dev-pki, ps-gen-ledger) into their own build directory,
# generates a small random governance ledger in a temporary directory, and walks through the
# reference engine's commands as policy-sidecar runs them: requirements, eligible, evaluate,
# promote, history. Then Vault (the emulator over TLS on 127.0.0.1): the preflight (`check`),
# reconcile and sync, the daemon (`serve`: webhook, health, metrics, operator API, audit), a
# sealed Vault (approvals commit, pushes wait, and land after the unseal), a SIGHUP reload, and
# revocation: a violation written into the ledger while serve runs demotes the agent, changes
# its role and revokes the token it already holds; freeze/unfreeze and the cooldown.
# Nothing outside the temporary directory and the build directory is touched.
#
# Build: $PS_DEMO_BUILD_DIR (default <repo>/build-demo), separate from tests/run.sh's build/:
# optimised (-O1) without debug info, as a unity build (several sources per compiler run, so
# the heavy headers - nlohmann/json, httplib, OpenSSL - are parsed far less often), warnings
# shown but not fatal. The first build is about 170 CPU-seconds (1.5 minutes on 2 idle cores,
# longer on a busy machine), later runs seconds: figures in README.md.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
"$repo/tests/support/ensure_deps.sh"
build=${PS_DEMO_BUILD_DIR:-$repo/build-demo}

# Configure once (again only when the cache is missing), then build the four targets with a
# progress line. Should the unity build fail (examples/demo-build.cmake), it is switched off and
# the build retried; a failed build shows the compiler's messages and the log's path.
configure_demo() {  # configure_demo UNITY(ON|OFF)
  local generator=(); command -v ninja >/dev/null && generator=(-G Ninja)
  cmake -S "$repo" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Demo \
    -DCMAKE_CXX_FLAGS_DEMO=-O1 -DCMAKE_C_FLAGS_DEMO=-O1 -DPS_WERROR=OFF \
    -DCMAKE_UNITY_BUILD="$1" -DCMAKE_UNITY_BUILD_BATCH_SIZE=16 \
    -DCMAKE_PROJECT_policy_sidecar_INCLUDE="$repo/examples/demo-build.cmake" \
    >"$build/demo-configure.log" 2>&1 || { cat "$build/demo-configure.log"; return 1; }
}
build_targets() {  # the four programs, with a progress line; the output goes to $log
  local started=$1 tty=; [ -t 1 ] && tty=1
  : >"$log"
  cmake --build "$build" -j"$(nproc)" \
    --target policy-sidecar vault-emulator ps-dev-pki ps-gen-ledger >"$log" 2>&1 &
  local pid=$! last= line shown
  while kill -0 "$pid" 2>/dev/null; do
    line=$(grep -E '^\[ *[0-9]+(%|/[0-9]+)\]' "$log" | tail -1 || true)
    if [ -n "$tty" ] || [ "$line" != "$last" ]; then
      shown=${line/Building CXX object /compiling }; shown=${shown/CMakeFiles\//}
      if [ -n "$tty" ]; then printf '\r\e[K  %s (%ds)' "${shown:0:100}" $((SECONDS - started))
      elif [ -n "$line" ]; then printf '  %s (%ds)\n' "$shown" $((SECONDS - started)); fi
      last=$line
    fi
    sleep 0.5
  done
  if [ -n "$tty" ]; then printf '\r\e[K'; fi
  wait "$pid"
}
build_demo() {
  local started=$SECONDS
  log=$build/demo-build.log
  mkdir -p "$build"
  if [ ! -f "$build/CMakeCache.txt" ]; then
    echo "configuring $build (first build: about 170 CPU-seconds; later runs: seconds)"
    configure_demo ON
  fi
  echo "building policy-sidecar, vault-emulator, ps-dev-pki, ps-gen-ledger in $build"
  if ! build_targets "$started"; then
    if grep -q '^CMAKE_UNITY_BUILD:BOOL=ON' "$build/CMakeCache.txt"; then
      echo "the unity build failed (log: $build/demo-build-unity.log); building without it"
      mv "$log" "$build/demo-build-unity.log"
      configure_demo OFF
      build_targets "$started" && { echo "built in $((SECONDS - started)) s"; return 0; }
    fi
    grep -vE '^\[ *[0-9]+(%|/[0-9]+)\]|^Consolidate|^Scanning' "$log" | tail -40
    echo "the build failed (full log: $log)"
    return 1
  fi
  echo "built in $((SECONDS - started)) s"
}
build_demo

work=$(mktemp -d -t policy-sidecar-demo.XXXXXX)
keep=${PS_DEMO_KEEP:-}
cleanup() {  # stops what the demo started; removes the work dir unless PS_DEMO_KEEP is set
  local pid
  for pid in ${serve_pid:-} ${vault_pid:-}; do kill "$pid" 2>/dev/null || true; done
  for pid in ${serve_pid:-} ${vault_pid:-}; do wait "$pid" 2>/dev/null || true; done
  if [ -z "$keep" ]; then rm -rf "$work"; fi
}
trap cleanup EXIT
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

# ---- Vault sync --------------------------------------------------------------------------
say "Vault: the emulator over TLS with a development PKI (a real Vault is driven the same way)"
"$build/tls/ps-dev-pki" "$work/pki" >/dev/null
# --state: the emulator saves its state there when it stops (PS_DEMO_KEEP=1 restarts from it);
# --admin-token: its fault-injection API (the demo seals and unseals it below).
emulator_admin=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
"$build/vault/emulator/vault-emulator" --listen 127.0.0.1:0 --tls-cert "$work/pki/server.pem" \
  --tls-key "$work/pki/server-key.pem" --dev --dev-root-token demo-root \
  --state "$work/vault-state.json" --admin-token "$emulator_admin" \
  >"$work/vault.out" 2>"$work/vault.err" &
vault_pid=$!
for _ in $(seq 100); do grep -q '^VAULT_ADDR=' "$work/vault.out" && break; sleep 0.05; done
export VAULT_ADDR=$(sed -n 's/^VAULT_ADDR=//p' "$work/vault.out")
export VAULT_CACERT=$work/pki/ca.pem VAULT_TOKEN=demo-root  # the sidecar reads Vault's own variables
echo "VAULT_ADDR=$VAULT_ADDR (CA: the dev PKI's ca.pem)"
# Defaults kept: role = "agent-{agent_id}" (roles.name_template), tier N -> policy tN-observer.
cat >"$work/sidecar.json" <<'JSON'
{ "roles": { "missing_role": "create" },
  "reconcile": { "drift_mode": "correct" } }
JSON
role="agent-$agent"
run_cfg() {
  printf '%s$ policy-sidecar --config sidecar.json %s%s\n' "$bold" "$*" "$off"
  "$sidecar" --config "$work/sidecar.json" "$@"
}
role_policies() {
  curl -sf --cacert "$VAULT_CACERT" -H "X-Vault-Token: $VAULT_TOKEN" \
    "$VAULT_ADDR/v1/auth/approle/role/$1/policies" | sed -n 's/.*"token_policies":\(\[[^]]*\]\).*/\1/p'
}
show_role() { echo "Vault: auth/approle/role/$1 token_policies = $(role_policies "$1")"; }


say "The promotion above was committed with its outbox row; Vault has not been told yet"
run_cfg status
echo "In Vault the role still has the old tier's policy (and one the sidecar does not manage):"
curl -sf --cacert "$VAULT_CACERT" -H "X-Vault-Token: $VAULT_TOKEN" -X POST \
  -d "{\"token_policies\": [\"t$tier-observer\", \"db-readonly\"]}" \
  "$VAULT_ADDR/v1/auth/approle/role/$role"
show_role "$role"

say "Reconcile: the other agents' roles do not exist yet (missing_role: create queues them);"
echo "$role waits for its queued push. Plan first (nothing changes), then for real."
run_cfg reconcile --dry-run --detailed-exitcode | awk 'NR <= 4 || /^Plan/' || true
run_cfg reconcile | tail -1

say "Sync: push the outbox to Vault (write, read back, mark), then exit (cron-friendly)"
run_cfg sync
show_role "$role"
run_cfg status --agent "$agent"

say "Someone edits the role by hand; the reconciler notices the drift and repairs it"
curl -sf --cacert "$VAULT_CACERT" -H "X-Vault-Token: $VAULT_TOKEN" -X POST \
  -d "{\"token_policies\": [\"t4-observer\", \"db-readonly\"]}" \
  "$VAULT_ADDR/v1/auth/approle/role/$role"
show_role "$role"
run_cfg reconcile --dry-run --detailed-exitcode || echo "(exit status $?)"
echo "(--detailed-exitcode: 0 in sync, 2 differences only, 1 errors: the generated ledger has two"
echo "agent ids that cannot name a Vault role, counted as errors, so 1 here)"
run_cfg reconcile | tail -1
run_cfg sync
show_role "$role"
echo "(db-readonly is not a tier policy, so the repair kept it)"

say "A violation: demote the agent; demotions are pushed first"
run_cfg demote "$agent" --to-tier 0 --reason "demo: critical violation" --by secops
run_cfg sync
show_role "$role"

# ---- The daemon ----------------------------------------------------------------------------
say "The daemon: policy-sidecar serve (HTTPS listener, signed approval webhook, operator API,"
echo "health, metrics, audit trail; the sync worker and the reconciler run inside it)"
printf 'whsec_%s\n' "$(head -c 32 /dev/urandom | base64)" >"$work/webhook-secrets"
head -c 24 /dev/urandom | base64 >"$work/api-token"
chmod 600 "$work/webhook-secrets" "$work/api-token"  # anything more open is refused, as ssh does
cat >"$work/serve.json" <<JSON
{ "roles": { "missing_role": "create" },
  "reconcile": { "drift_mode": "correct" },
  "listener": { "address": "127.0.0.1:0",
                "tls_cert": "$work/pki/server.pem", "tls_key": "$work/pki/server-key.pem" },
  "webhook": { "secrets_file": "$work/webhook-secrets",
               "reviewers": ["demo-reviewer"], "admins": ["demo-admin"] },
  "api": { "token_file": "$work/api-token" },
  "audit": { "path": "$work/audit.jsonl" },
  "revocation": { "poll_interval_s": 0.5, "vault": { "revoke_tokens": true } },
  "sync": { "backoff": { "initial_ms": 250, "max_ms": 1000 } },
  "log": { "format": "text" } }
JSON
# sync.backoff: the worker's pause while Vault is down is at most 1 s here (5 min by default),
# so the pushes held back by the sealed Vault below land right after the unseal.
# revocation: serve watches the ledger's violations table (every 0.5 s here, 2 s by default);
# revoke_tokens also revokes the tokens a demoted agent already holds (it lists every token
# accessor, so it needs sudo on auth/token/accessors; the demo's root token has it).
run_serve_cfg() {
  printf '%s$ policy-sidecar --config serve.json %s%s\n' "$bold" "$*" "$off"
  "$sidecar" --config "$work/serve.json" "$@"
}
say "Preflight (like nginx -t): check --offline is the local part (the config, serve's parts"
echo "included, secret files and their modes, the listener's TLS files, the ledger);"
echo "the systemd unit runs it before every start"
run_serve_cfg check --offline || echo "(exit status $?)"
say "check: the same, then Vault (reachable, unsealed, the token and its TTL, the capabilities"
echo "this configuration needs on every path, the tier policies). The dev Vault has none yet:"
run_serve_cfg check || echo "(exit status $?: check names what is missing)"
echo "Write placeholder tier policies t0-observer..t4-observer (a real kit: examples/vault/):"
for t in 0 1 2 3 4; do
  curl -sf --cacert "$VAULT_CACERT" -H "X-Vault-Token: $VAULT_TOKEN" -X PUT \
    -d "{\"policy\": \"path \\\"secret/data/tier$t/*\\\" { capabilities = [\\\"read\\\"] }\"}" \
    "$VAULT_ADDR/v1/sys/policies/acl/t$t-observer"
done
run_serve_cfg check || echo "(exit status $?)"
printf '%s$ policy-sidecar --config serve.json serve &%s\n' "$bold" "$off"
"$sidecar" --config "$work/serve.json" serve >"$work/serve.out" 2>"$work/serve.log" &
serve_pid=$!
for _ in $(seq 100); do grep -q '^POLICY_SIDECAR_ADDR=' "$work/serve.out" && break; sleep 0.1; done
url=$(sed -n 's/^POLICY_SIDECAR_ADDR=//p' "$work/serve.out")
[ -n "$url" ] || { cat "$work/serve.log"; exit 1; }
echo "listening on $url (first lines of its log:)"
awk 'NR <= 3' "$work/serve.log"

next=$("$sidecar" eligible | sed -n 's/^\[READY\] //p' | awk 'NR == 2')
next_tier=$("$sidecar" evaluate "$next" | sed -n 's/^Current Tier: //p')
target=$((next_tier + 1))
say "An approval system approves $next for Tier $target: examples/send-approval.sh signs it"
echo "(Standard Webhooks: HMAC-SHA256 over id.timestamp.body) and posts it; the answer comes"
echo "after the ledger commit, before Vault is told"
export CACERT=$work/pki/ca.pem WEBHOOK_ID=msg_demo_$$
printf '%s$ examples/send-approval.sh %s webhook-secrets %s %s demo-admin "demo: reviewed"%s\n' \
  "$bold" "$url" "$next" "$target" "$off"
"$repo/examples/send-approval.sh" "$url" "$work/webhook-secrets" "$next" "$target" demo-admin "demo: reviewed"
say "The approval system retries the same delivery: same answer, nothing changes"
"$repo/examples/send-approval.sh" "$url" "$work/webhook-secrets" "$next" "$target" demo-admin "demo: reviewed"
say "A request signed with another secret is refused (401), and audited"
printf 'whsec_%s\n' "$(head -c 32 /dev/urandom | base64)" >"$work/wrong-secret"
WEBHOOK_ID=msg_forged_$$ "$repo/examples/send-approval.sh" "$url" "$work/wrong-secret" "$next" "$target" mallory \
  || echo "(curl exit status $?)"
unset WEBHOOK_ID

say "The sync worker pushes the new tier's policy to Vault (a moment later)"
for _ in $(seq 50); do role_policies "agent-$next" | grep -q "t$target-observer" && break; sleep 0.2; done
show_role "agent-$next"

api_token=$(cat "$work/api-token")
bearer=(-H "Authorization: Bearer $api_token")
metric() {  # metric SERIES: its value on /metrics (with the token), or "-"
  curl -s --cacert "$CACERT" "${bearer[@]}" "$url/metrics" |
    awk -v s="$1" '$1 == s { print $2; found = 1 } END { if (!found) print "-" }'
}
health_status() { curl -s --cacert "$CACERT" "$url/v1/sys/health" | json_status; }
json_status() { python3 -c 'import json, sys; print(json.load(sys.stdin)["status"])'; }
# The prober refreshes the cached report every 2 s: wait for its first full pass (token obtained).
for _ in $(seq 50); do [ "$(health_status)" = ok ] && break; sleep 0.1; done
say "Health without a token: the status and the checks' names (answered from a cache the"
echo "background prober refreshes every 2 s; 200 ok/degraded, 503 failed)"
curl -s --cacert "$CACERT" "$url/v1/sys/health"; echo
say "Health with the operator API token: each check's reason, and the version"
curl -s --cacert "$CACERT" "${bearer[@]}" "$url/v1/sys/health" | python3 -c 'import json, sys
d = json.load(sys.stdin)
print(d["status"], {k: v for k, v in d.items() if k not in ("status", "checks")})
for name, c in d["checks"].items(): print("  %s: %s (%s)" % (name, c["status"], c.get("reason", "")))' || true
say "Metrics (Prometheus text format) need the token too (api.metrics_auth): the series reveal"
echo "agent counts, changes in flight and error rates. Without it:"
curl -s -o /dev/null -w 'GET /metrics -> HTTP %{http_code}\n' --cacert "$CACERT" "$url/metrics"
echo "With it (a few series; examples/prometheus/ has the scrape job, alerts and a dashboard):"
curl -s --cacert "$CACERT" "${bearer[@]}" "$url/metrics" |
  grep -E '^(policy_sidecar_(promotions_total|webhook_requests_total|outbox_rows|vault_token_valid|vault_up)|process_resident_memory_bytes)' || true
say "The operator API (bearer token from api.token_file): one agent"
curl -s --cacert "$CACERT" "${bearer[@]}" "$url/v1/agents/$next" | cut -c1-300; echo " ..."
say "The audit trail: one JSON line per decision, on disk before the answer"
cut -c1-200 "$work/audit.jsonl"

# ---- A sealed Vault ---------------------------------------------------------------------------
emulator() {  # emulator seal|unseal: the emulator's admin API (a real Vault: vault operator seal)
  curl -sf --cacert "$VAULT_CACERT" -H "X-Emulator-Admin-Token: $emulator_admin" -X POST \
    "$VAULT_ADDR/_emulator/$1"
}
third=$("$sidecar" eligible | sed -n 's/^\[READY\] //p' | grep -vxF -e "$agent" -e "$next" | awk 'NR == 1')
third_tier=$("$sidecar" evaluate "$third" | sed -n 's/^Current Tier: //p')
third_target=$((third_tier + 1))
say "Vault is sealed (an operator, a restart, an outage): \$ vault operator seal"
emulator seal
for _ in $(seq 60); do [ "$(health_status)" = degraded ] && break; sleep 0.1; done
echo "serve's health: $(health_status); its vault check (with the token):"
curl -s --cacert "$CACERT" "${bearer[@]}" "$url/v1/sys/health" |
  python3 -c 'import json, sys; print("  ", json.load(sys.stdin)["checks"]["vault"])' || true
say "An approval for $third (Tier $third_target) still commits: the answer comes after the ledger"
echo "commit; the push to Vault waits in the outbox"
WEBHOOK_ID=msg_sealed_$$ "$repo/examples/send-approval.sh" "$url" "$work/webhook-secrets" \
  "$third" "$third_target" demo-admin "demo: approved while Vault is sealed"
pending() { metric 'policy_sidecar_outbox_rows{state="pending"}'; }
for _ in $(seq 50); do case $(pending) in -|0) sleep 0.1 ;; *) break ;; esac; done
run_cfg status
echo "policy_sidecar_vault_up $(metric policy_sidecar_vault_up)," \
  "policy_sidecar_outbox_rows{state=\"pending\"} $(pending)"
say "Unseal: \$ vault operator unseal. The waiting push lands within a second or two"
emulator unseal
unsealed=$SECONDS
for _ in $(seq 100); do role_policies "agent-$third" | grep -q "t$third_target-observer" && break; sleep 0.1; done
show_role "agent-$third"
echo "(landed $((SECONDS - unsealed)) s after the unseal; serve's health: $(
  for _ in $(seq 40); do [ "$(health_status)" = ok ] && break; sleep 0.1; done; health_status))"
grep -E 'sync\.(retry|synced|vault_down|paused)|vault\.(sealed|down|up)|health\.changed' "$work/serve.log" |
  cut -c1-160 | awk 'NR <= 6' || true

# ---- SIGHUP ------------------------------------------------------------------------------------
say "SIGHUP (systemctl reload): re-read the config. Rotate the operator API token:"
head -c 24 /dev/urandom | base64 >"$work/api-token.new"
chmod 600 "$work/api-token.new"
mv "$work/api-token.new" "$work/api-token"
printf '%s$ kill -HUP %s%s\n' "$bold" "$serve_pid" "$off"
kill -HUP "$serve_pid"
for _ in $(seq 50); do grep -q 'reload\.\(done\|rejected\)' "$work/serve.log" && break; sleep 0.1; done
grep -E 'reload\.' "$work/serve.log" | cut -c1-160 || true
curl -s -o /dev/null -w 'the old token: GET /v1/agents -> HTTP %{http_code}\n' --cacert "$CACERT" \
  "${bearer[@]}" "$url/v1/agents/$next"
api_token=$(cat "$work/api-token"); bearer=(-H "Authorization: Bearer $api_token")
curl -s -o /dev/null -w 'the new token: GET /v1/agents -> HTTP %{http_code}\n' --cacert "$CACERT" \
  "${bearer[@]}" "$url/v1/agents/$next"
say "A reload that would break something is rejected and the running configuration stays:"
echo "here the token file becomes readable by others (refused, as ssh refuses such keys)"
chmod 644 "$work/api-token"
kill -HUP "$serve_pid"
for _ in $(seq 50); do grep -q 'reload\.rejected' "$work/serve.log" && break; sleep 0.1; done
grep -E 'reload\.rejected' "$work/serve.log" | cut -c1-200 || true
chmod 600 "$work/api-token"
echo "policy_sidecar_reloads_total: ok $(metric 'policy_sidecar_reloads_total{result="ok"}')," \
  "rejected $(metric 'policy_sidecar_reloads_total{result="rejected"}')"

# ---- Revocation ----------------------------------------------------------------------------
vault_as() {  # vault_as TOKEN METHOD PATH [BODY]: prints "HTTP <status> <body>"
  local status
  status=$(curl -s --cacert "$VAULT_CACERT" -H "X-Vault-Token: $1" -X "$2" ${4:+-d "$4"} \
    -o "$work/answer" -w '%{http_code}' "$VAULT_ADDR/v1/$3")
  echo "HTTP $status $(cat "$work/answer")"
}
json_get() {  # json_get KEY...: that value of the JSON on stdin (strings bare, the rest as JSON)
  python3 -c 'import json, sys; d = json.load(sys.stdin)
for k in sys.argv[1:]: d = d[k]
print(d if isinstance(d, str) else json.dumps(d))' "$@"
}
run_some() {  # run_some REGEX ARGS...: run, showing only the output lines matching REGEX
  local regex=$1; shift
  printf "%s\$ policy-sidecar %s | grep -E '%s'%s\n" "$bold" "$*" "$regex" "$off"
  "$sidecar" "$@" | grep -E "$regex"
}
say "Revocation: $next (Tier $target since the approval above) runs as an agent with its AppRole;"
echo "an operator hands it a secret ID (root token) and it logs in (plain curl to Vault)"
agent_role="agent-$next"
role_id=$(curl -sf --cacert "$VAULT_CACERT" -H "X-Vault-Token: $VAULT_TOKEN" \
  "$VAULT_ADDR/v1/auth/approle/role/$agent_role/role-id" | json_get data role_id)
secret_id=$(curl -sf --cacert "$VAULT_CACERT" -H "X-Vault-Token: $VAULT_TOKEN" -X POST \
  "$VAULT_ADDR/v1/auth/approle/role/$agent_role/secret-id" | json_get data secret_id)
login=$(curl -sf --cacert "$VAULT_CACERT" -X POST \
  -d "{\"role_id\": \"$role_id\", \"secret_id\": \"$secret_id\"}" "$VAULT_ADDR/v1/auth/approle/login")
agent_token=$(json_get auth client_token <<<"$login")
echo "the agent's token: accessor $(json_get auth accessor <<<"$login"), policies $(json_get auth policies <<<"$login")"
self=$(curl -sf --cacert "$VAULT_CACERT" -H "X-Vault-Token: $agent_token" "$VAULT_ADDR/v1/auth/token/lookup-self")
echo "agent: GET auth/token/lookup-self -> 200, policies $(json_get data policies <<<"$self")"

say "The governance platform records a critical violation for $next (another process, sqlite3)"
echo "while serve runs; serve's violation watcher demotes, the sync worker pushes the policy"
echo "and then revokes what the agent already holds"
insert="INSERT INTO violations (timestamp, agent_id, violation_type, severity, description, acknowledged)
  VALUES (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), '$next', 'credential_leak', 'critical',
          'demo: token pasted into a public channel', 0);"
printf '%s$ sqlite3 governance.db "%s"%s\n' "$bold" "$insert" "$off"
started=$(date +%s%N)
sqlite3 -cmd '.timeout 5000' "$POLICY_SIDECAR_DB" "$insert"
refused=
for _ in $(seq 300); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$VAULT_CACERT" -H "X-Vault-Token: $agent_token" \
    "$VAULT_ADDR/v1/auth/token/lookup-self")" = 403 ] && refused=yes && break
  sleep 0.1
done
[ -n "$refused" ] || { echo "the token was not revoked within 30 s; serve's log:"; cat "$work/serve.log"; exit 1; }
echo "the agent's token was refused $(( ($(date +%s%N) - started) / 1000000 )) ms after the insert"

say "Within seconds: the ledger tier dropped..."
run_some '^(Current Tier|Status):|Cooldown' evaluate "$next"
run_cfg status --agent "$next"
say "...the role's token_policies changed in Vault..."
show_role "$agent_role"
say "...and the agent's existing token is refused (403 on every path), its secret ID destroyed"
printf 'agent: GET auth/token/lookup-self -> '; vault_as "$agent_token" GET auth/token/lookup-self
printf 'agent: POST auth/approle/login (same secret ID) -> '
vault_as "" POST auth/approle/login "{\"role_id\": \"$role_id\", \"secret_id\": \"$secret_id\"}"
unset agent_token secret_id login self
echo "The audit trail of it:"
python3 - "$work/audit.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["event"] == "demotion":
        print(f"  demotion: {e['agent_id']} Tier {e['from_tier']} -> {e['to_tier']} (violation {e['violation_id']}, by {e['demoted_by']})")
    elif e["event"] == "revocation.step":
        print(f"  revocation.step {e['step']}: {e['result']}, {e['detail']}")
PY

say "The kill switch: every agent to Tier 0 at once, promotions refused until unfreeze"
run freeze --all --reason "demo: incident drill" --by secops
echo "(serve's sync worker pushes the Tier 0 policies and the revocation steps at once)"
echo "serve's health check: $(curl -s --cacert "$CACERT" "$url/v1/sys/health" | json_get checks freeze)"
run unfreeze --by secops
say "Unfrozen, but a demoted agent still waits out its cooldown (revocation.cooldown_days)"
run_some '^(Current Tier|Status):|Cooldown' evaluate "$next"

say "SIGTERM: stop accepting, finish what is in flight, exit 0"
kill -TERM "$serve_pid"
wait "$serve_pid" && echo "serve exited with status 0"
serve_pid=
tail -2 "$work/serve.log"

say "SIGTERM to the emulator too (it saves its state to vault-state.json)"
kill -TERM "$vault_pid"
wait "$vault_pid" || true
vault_pid=

if [ -z "$keep" ]; then
  say "Done. PS_DEMO_KEEP=1 examples/demo.sh keeps the work directory and prints what to try next."
  exit 0
fi
rel() { printf '%s' "${1/#$PWD\//}"; }
say "Done. Kept $work (PS_DEMO_KEEP=1). These still work:"
cat <<EOF
  export POLICY_SIDECAR_DB=$POLICY_SIDECAR_DB
  $(rel "$sidecar") eligible
  $(rel "$sidecar") evaluate $next
  $(rel "$sidecar") history --limit 5
  less $work/audit.jsonl $work/serve.log

  # Vault again: the emulator restarts from the state it saved (roles, tokens, policies)
  $(rel "$build/vault/emulator/vault-emulator") --listen 127.0.0.1:8200 --dev --dev-root-token demo-root \\
      --tls-cert $work/pki/server.pem --tls-key $work/pki/server-key.pem \\
      --state $work/vault-state.json &
  export VAULT_ADDR=https://127.0.0.1:8200 VAULT_CACERT=$work/pki/ca.pem VAULT_TOKEN=demo-root
  $(rel "$sidecar") --config $work/serve.json check
  $(rel "$sidecar") --config $work/sidecar.json reconcile --dry-run
  $(rel "$sidecar") --config $work/sidecar.json status --agent $next
  $(rel "$sidecar") --config $work/serve.json serve     # prints POLICY_SIDECAR_ADDR=...; Ctrl-C stops it

  rm -rf $work    # when done
EOF
