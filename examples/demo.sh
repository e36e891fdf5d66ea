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
  "log": { "format": "text" } }
JSON
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

say "SIGTERM: stop accepting, finish what is in flight, exit 0"
kill -TERM "$serve_pid"
wait "$serve_pid" && echo "serve exited with status 0"
tail -2 "$work/serve.log"

say "Done. Try: $sidecar --db <ledger> --help"
