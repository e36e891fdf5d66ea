#!/usr/bin/env bash
# The policy-sidecar demo, from a fresh clone, in one command:
#
#   examples/demo.sh
#
# Installs what is missing (Debian packages), builds, generates a small random governance
# ledger in a temporary directory, and walks through the reference engine's commands as
# policy-sidecar runs them: requirements, eligible, evaluate, promote, history. Then Vault (the
# emulator over TLS on 127.0.0.1): reconcile and sync, the daemon (`serve`: webhook, health,
# metrics, operator API, audit), and revocation: a violation written into the ledger while
# serve runs demotes the agent, changes its role and revokes the token it already holds;
# freeze/unfreeze and the cooldown.
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

# ---- Vault sync (issue 4) ------------------------------------------------------------------
say "Vault: the emulator over TLS with a development PKI (a real Vault is driven the same way)"
"$build/tls/ps-dev-pki" "$work/pki" >/dev/null
"$build/vault/emulator/vault-emulator" --listen 127.0.0.1:0 --tls-cert "$work/pki/server.pem" \
  --tls-key "$work/pki/server-key.pem" --dev --dev-root-token demo-root \
  >"$work/vault.out" 2>"$work/vault.err" &
vault_pid=$!
trap 'kill "$vault_pid" 2>/dev/null; wait "$vault_pid" 2>/dev/null; rm -rf "$work"' EXIT
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

say "Someone edits the role by hand; the reconciler notices (exit 2 = drift) and repairs it"
curl -sf --cacert "$VAULT_CACERT" -H "X-Vault-Token: $VAULT_TOKEN" -X POST \
  -d "{\"token_policies\": [\"t4-observer\", \"db-readonly\"]}" \
  "$VAULT_ADDR/v1/auth/approle/role/$role"
show_role "$role"
run_cfg reconcile --dry-run --detailed-exitcode || echo "(exit status $?)"
run_cfg reconcile | tail -1
run_cfg sync
show_role "$role"
echo "(db-readonly is not a tier policy, so the repair kept it)"

say "A violation: demote the agent; demotions are pushed first"
run_cfg demote "$agent" --to-tier 0 --reason "demo: critical violation" --by secops
run_cfg sync
show_role "$role"

# ---- The daemon (issue 5) --------------------------------------------------------------------
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
  "log": { "format": "text" } }
JSON
# revocation: serve watches the ledger's violations table (every 0.5 s here, 2 s by default);
# revoke_tokens also revokes the tokens a demoted agent already holds (it lists every token
# accessor, so it needs sudo on auth/token/accessors; the demo's root token has it).
printf '%s$ policy-sidecar --config serve.json serve &%s\n' "$bold" "$off"
"$sidecar" --config "$work/serve.json" serve >"$work/serve.out" 2>"$work/serve.log" &
serve_pid=$!
trap 'kill "$serve_pid" "$vault_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
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

say "Health (no authentication): ok, degraded (e.g. Vault sealed: approvals still commit) or failed"
curl -s --cacert "$CACERT" "$url/v1/sys/health"; echo
say "Metrics (Prometheus text format), a few of them"
curl -s --cacert "$CACERT" "$url/metrics" |
  grep -E '^policy_sidecar_(promotions_total|webhook_requests_total|outbox_rows|vault_token_valid)' || true
say "The operator API (bearer token from api.token_file): one agent"
curl -s --cacert "$CACERT" -H "Authorization: Bearer $(cat "$work/api-token")" \
  "$url/v1/agents/$next" | cut -c1-300; echo " ..."
say "The audit trail: one JSON line per decision, on disk before the answer"
cat "$work/audit.jsonl" | cut -c1-200

# ---- Revocation (issue 6) --------------------------------------------------------------------
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
tail -2 "$work/serve.log"

say "Done. Try: $sidecar --db <ledger> --help"
