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

say "Done. Try: $sidecar --db <ledger> --help"
