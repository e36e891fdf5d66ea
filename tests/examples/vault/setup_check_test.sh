#!/usr/bin/env bash
# examples/vault/setup.sh against the Vault emulator (a separate process, TLS), then the real
# `policy-sidecar check` with the config it wrote: passes; fails naming the path when the
# sidecar's policy lacks one; fails naming a missing tier policy. Also: setup.sh refuses bad
# input, is idempotent, keeps the sidecar's own role out of its policy, rotates secret IDs,
# and its policy is exactly `check --policy` for the shipped and the generated config.
#
# Env (set by CTest): PS_EMULATOR, PS_SIDECAR, PS_DEV_PKI, PS_GEN_LEDGER, PS_REPO_ROOT.
set -uo pipefail
kit="$PS_REPO_ROOT/examples/vault"
tmp=$(mktemp -d)
emu_pid=""
cleanup() {
  [ -z "$emu_pid" ] || { kill "$emu_pid" 2>/dev/null; wait "$emu_pid" 2>/dev/null; }
  rm -rf "$tmp"
}
trap cleanup EXIT
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok - $1"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $1"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else not_ok "$what"; fi; }
contains() { grep -qF -- "$2" "$1"; }

# --- the emulator over TLS on port 0 ---------------------------------------------------------
"$PS_DEV_PKI" "$tmp/pki" > /dev/null || { echo "ps-dev-pki failed"; exit 1; }
root=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
"$PS_EMULATOR" --listen 127.0.0.1:0 --tls-cert "$tmp/pki/server.pem" \
  --tls-key "$tmp/pki/server-key.pem" --dev --dev-root-token "$root" \
  > "$tmp/emu.out" 2> "$tmp/emu.err" &
emu_pid=$!
addr=""
for _ in $(seq 1 300); do  # readiness: the emulator prints VAULT_ADDR= once it listens
  addr=$(sed -n 's/^VAULT_ADDR=//p' "$tmp/emu.out")
  [ -n "$addr" ] && break
  kill -0 "$emu_pid" 2>/dev/null || break
  sleep 0.1
done
[ -n "$addr" ] || { echo "emulator did not start:"; cat "$tmp/emu.err"; exit 1; }
ca="$tmp/pki/ca.pem"
printf 'X-Vault-Token: %s\n' "$root" > "$tmp/root-headers"

# api METHOD PATH [JSON] [HEADERS_FILE]: prints the body; the status goes to $tmp/status.
api() {
  local args=(-sS --cacert "$ca" -o "$tmp/api-body" -w '%{http_code}' -X "$1" -H "@${4:-$tmp/root-headers}")
  [ -z "${3:-}" ] || args+=(--data-binary "$3")
  curl "${args[@]}" "$addr/v1/$2" > "$tmp/status"
  cat "$tmp/api-body"
}
jq_py() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

out="$tmp/out"
"$PS_GEN_LEDGER" --out "$tmp/ledger.db" --agents 5 --actions 50 --seed 1 > /dev/null
setup() {  # setup [ENV=VALUE...]: runs setup.sh with the test's inputs; output in $tmp/setup.log
  env -i PATH="$PATH" HOME="$tmp" VAULT_ADDR="$addr" VAULT_TOKEN="$root" VAULT_CACERT="$ca" \
    OUT_DIR="$out" LEDGER_PATH="$tmp/ledger.db" "$@" bash "$kit/setup.sh" > "$tmp/setup.log" 2>&1
}
sidecar() {  # sidecar ARGS...: the real binary, no VAULT_* from the environment
  env -i PATH="$PATH" HOME="$tmp" "$PS_SIDECAR" "$@" > "$tmp/sidecar.log" 2>&1
}

# --- setup.sh refuses bad input before touching Vault -----------------------------------------
env -i PATH="$PATH" VAULT_TOKEN=x bash "$kit/setup.sh" > "$tmp/e.log" 2>&1; rc=$?
check "setup.sh without VAULT_ADDR exits 2 naming it" test "$rc" = 2 -a -n "$(grep VAULT_ADDR "$tmp/e.log")"
setup AGENT_MOUNT=same SIDECAR_MOUNT=same; rc=$?
check "setup.sh with one mount for agents and sidecar exits 2" test "$rc" = 2
check "  ... and says why" contains "$tmp/setup.log" "would cover its own role"
env -i PATH="$PATH" VAULT_ADDR="$addr" VAULT_TOKEN=not-a-token VAULT_CACERT="$ca" OUT_DIR="$out" \
  bash "$kit/setup.sh" > "$tmp/e.log" 2>&1; rc=$?
check "setup.sh with a bad admin token exits 1" test "$rc" = 1
check "  ... naming the token and the 403" contains "$tmp/e.log" "the admin token (VAULT_TOKEN): permission denied (HTTP 403"
for bad in $'tok\nEvil' $'tok\r\nEvil' 'tok Evil'; do
  env -i PATH="$PATH" VAULT_ADDR="$addr" VAULT_TOKEN="$bad" VAULT_CACERT="$ca" OUT_DIR="$out" \
    bash "$kit/setup.sh" > "$tmp/e.log" 2>&1; rc=$?
  check "setup.sh with a token holding a line break or space exits 2 ($(printf %q "$bad"))" test "$rc" = 2
  check "  ... without showing it" test -z "$(grep -F 'Evil' "$tmp/e.log")"
done
env -i PATH="$PATH" VAULT_ADDR="https://127.0.0.1:1" VAULT_TOKEN=x VAULT_CACERT="$ca" OUT_DIR="$out" \
  bash "$kit/setup.sh" > "$tmp/e.log" 2>&1; rc=$?
check "setup.sh with an unreachable Vault exits 1 naming the address" \
  test "$rc" = 1 -a -n "$(grep -F 'cannot reach Vault at https://127.0.0.1:1' "$tmp/e.log")"
check "nothing was enabled by the refused runs" test "$(api GET sys/auth | jq_py "sorted(d['data'])")" = "['approle/', 'token/']"

# --- setup.sh configures the emulator -------------------------------------------------------
setup; rc=$?
check "setup.sh exits 0" test "$rc" = 0
[ "$rc" = 0 ] || cat "$tmp/setup.log"
mounts=$(api GET sys/auth)
check "the agents' mount is an AppRole mount" test "$(echo "$mounts" | jq_py "d['data']['agents/']['type']")" = approle
check "the sidecar's own mount is another AppRole mount" test "$(echo "$mounts" | jq_py "d['data']['policy-sidecar/']['type']")" = approle
check "agent tokens are capped by the mount (24h)" test "$(api GET sys/auth/agents/tune | jq_py "d['data']['max_lease_ttl']")" = 86400
for p in t0-observer t1-observer t2-observer t3-observer t4-observer policy-sidecar; do
  api GET "sys/policies/acl/$p" > /dev/null
  check "policy $p exists" test "$(cat "$tmp/status")" = 200
done
check "role-id is mode 0600" test "$(stat -c %a "$out/role-id")" = 600
check "secret-id is mode 0600" test "$(stat -c %a "$out/secret-id")" = 600
check "the output directory is mode 0700" test "$(stat -c %a "$out")" = 700
check "the role-id file holds the role's role ID" test "$(cat "$out/role-id")" = \
  "$(api GET auth/policy-sidecar/role/policy-sidecar/role-id | jq_py "d['data']['role_id']")"
check "setup.sh never prints the admin token" test -z "$(grep -F "$root" "$tmp/setup.log")"
check "setup.sh never prints the secret ID" test -z "$(grep -F "$(cat "$out/secret-id")" "$tmp/setup.log")"
check "every step names the vault CLI equivalent" contains "$tmp/setup.log" "(vault CLI: vault auth enable -path=agents"
role=$(api GET auth/policy-sidecar/role/policy-sidecar)
check "the sidecar's role carries only its policy" test "$(echo "$role" | jq_py "d['data']['token_policies']")" = "['policy-sidecar']"

# --- the policy is the one `check --policy` prints ------------------------------------------
sidecar --config "$out/config.json" check --policy
check "check --policy for the generated config is sidecar-policy.hcl" cmp -s "$tmp/sidecar.log" "$kit/sidecar-policy.hcl"
sidecar --config "$kit/sidecar-config.json" --db "$tmp/ledger.db" check --policy
check "check --policy for the shipped sidecar-config.json is sidecar-policy.hcl" cmp -s "$tmp/sidecar.log" "$kit/sidecar-policy.hcl"
check "the policy written to Vault is sidecar-policy.hcl" test "$(api GET sys/policies/acl/policy-sidecar | jq_py "d['data']['policy']")" = "$(cat "$kit/sidecar-policy.hcl")"

# --- check passes with the generated config --------------------------------------------------
sidecar --config "$out/config.json" check; rc=$?
check "check passes (exit 0)" test "$rc" = 0
[ "$rc" = 0 ] || cat "$tmp/sidecar.log"
check "  ... every capability allowed" grep -qE '^\[ok\] +capabilities: [0-9]+ paths allowed' "$tmp/sidecar.log"
check "  ... the tier policies exist" grep -qE '^\[ok\] +tier-policies: every tier policy exists' "$tmp/sidecar.log"
check "  ... logging in through its own mount" contains "$tmp/sidecar.log" "login mount auth/policy-sidecar"

# --- nothing on its own login role ----------------------------------------------------------
: > "$tmp/no-headers"
login=$(api POST auth/policy-sidecar/login "{\"role_id\": \"$(cat "$out/role-id")\", \"secret_id\": \"$(cat "$out/secret-id")\"}" "$tmp/no-headers")
printf 'X-Vault-Token: %s\n' "$(echo "$login" | jq_py "d['auth']['client_token']")" > "$tmp/sidecar-headers"
caps=$(api POST sys/capabilities-self '{"paths": ["auth/policy-sidecar/role/policy-sidecar", "auth/policy-sidecar/role/policy-sidecar/secret-id", "auth/agents/role/agent-x/policies"]}' "$tmp/sidecar-headers")
check "the sidecar's token has no capability on its own role" test "$(echo "$caps" | jq_py "d['data']['auth/policy-sidecar/role/policy-sidecar']")" = "['deny']"
check "  ... nor on its own secret IDs" test "$(echo "$caps" | jq_py "d['data']['auth/policy-sidecar/role/policy-sidecar/secret-id']")" = "['deny']"
check "  ... while it may read and update an agent's policies" test "$(echo "$caps" | jq_py "sorted(d['data']['auth/agents/role/agent-x/policies'])")" = "['read', 'update']"

# --- idempotent ------------------------------------------------------------------------------
secret_before=$(cat "$out/secret-id")
setup; rc=$?
check "a second setup.sh run exits 0" test "$rc" = 0
check "  ... keeps the working secret ID" test "$(cat "$out/secret-id")" = "$secret_before"
check "  ... keeps config.json" contains "$tmp/setup.log" "config.json exists (kept"
check "  ... keeps existing tier policies" contains "$tmp/setup.log" "tier policy t0-observer exists (kept"
sidecar --config "$out/config.json" check; rc=$?
check "check still passes after the second run" test "$rc" = 0

# --- an under-privileged sidecar token: check fails naming the missing path ---------------------
weak=$(python3 - "$kit/sidecar-policy.hcl" <<'PY'
import json, re, sys
text = open(sys.argv[1]).read()
text = re.sub(r'path "auth/agents/role/\+/policies" \{[^}]*\}\n', '', text)
print(json.dumps({"policy": text}))
PY
)
api PUT sys/policies/acl/policy-sidecar "$weak" > /dev/null
check "the weakened policy was written" test "$(cat "$tmp/status")" = 204
sidecar --config "$out/config.json" check; rc=$?
check "check with an under-privileged token exits 1" test "$rc" = 1
check "  ... naming the missing path and capabilities" grep -qE '^\[FAIL\] capabilities: auth/agents/role/agent-preflight-check/policies: missing read, update' "$tmp/sidecar.log"
check "  ... and only that path" test "$(grep -c 'FAIL' "$tmp/sidecar.log")" = 1
sidecar --config "$out/config.json" check --json
check "  ... in --json too" test "$(jq_py "'|'.join(c['detail'] for c in d['checks'] if c['status'] == 'fail')" < "$tmp/sidecar.log")" = \
  "auth/agents/role/agent-preflight-check/policies: missing read, update (needed to read and write the agents' token_policies)"
setup; rc=$?
check "setup.sh restores the policy" test "$rc" = 0
sidecar --config "$out/config.json" check; rc=$?
check "check passes again" test "$rc" = 0

# --- a missing tier policy ---------------------------------------------------------------------
api DELETE sys/policies/acl/t3-observer > /dev/null
sidecar --config "$out/config.json" check; rc=$?
check "check with a tier policy missing exits 1" test "$rc" = 1
check "  ... naming it" grep -qF '[FAIL] tier-policies: t3-observer: no such ACL policy in Vault' "$tmp/sidecar.log"
setup; rc=$?
check "setup.sh writes the missing tier policy again" test "$rc" = 0 -a "$(grep -c 'writing placeholder tier policy' "$tmp/setup.log")" = 1

# --- opt-in token revocation -----------------------------------------------------------------
setup REVOKE_TOKENS=1 OVERWRITE_CONFIG=1; rc=$?
check "setup.sh REVOKE_TOKENS=1 exits 0" test "$rc" = 0
sidecar --config "$out/config.json" check --policy
blocks() {  # the set of (path, capabilities) blocks of an HCL policy, one per line, sorted
  python3 -c '
import re, sys
text = "".join(open(f).read() for f in sys.argv[1:])
for p, c in sorted(set(re.findall(r"path \"([^\"]+)\" \{\s*capabilities = \[([^\]]*)\]", text))):
    print(p, c)' "$@"
}
check "check --policy with revoke_tokens = the base policy + sidecar-policy-revoke-tokens.hcl" \
  test "$(blocks "$tmp/sidecar.log")" = "$(blocks "$kit/sidecar-policy.hcl" "$kit/sidecar-policy-revoke-tokens.hcl")"
check "  ... (sudo on auth/token/accessors)" grep -qF 'path "auth/token/accessors"' "$tmp/sidecar.log"
sidecar --config "$out/config.json" check; rc=$?
check "check passes with token revocation granted" test "$rc" = 0
[ "$rc" = 0 ] || cat "$tmp/sidecar.log"

# --- secret ID rotation ----------------------------------------------------------------------
old_secret=$(cat "$out/secret-id")
setup ROTATE_SECRET_ID=1; rc=$?
check "setup.sh ROTATE_SECRET_ID=1 exits 0" test "$rc" = 0
check "  ... writes a new secret ID" test "$(cat "$out/secret-id")" != "$old_secret"
api POST auth/policy-sidecar/login "{\"role_id\": \"$(cat "$out/role-id")\", \"secret_id\": \"$old_secret\"}" "$tmp/no-headers" > /dev/null
check "  ... and the old one no longer logs in" test "$(cat "$tmp/status")" = 400
sidecar --config "$out/config.json" check; rc=$?
check "check passes with the new secret ID" test "$rc" = 0
[ "$rc" = 0 ] || cat "$tmp/sidecar.log"

# --- a kept config.json must agree with the run ----------------------------------------------
check "the rotation run kept the config's token revocation in the policy" \
  grep -qF 'auth/token/accessors' <(api GET sys/policies/acl/policy-sidecar)
setup AGENT_MOUNT=other-agents; rc=$?
check "setup.sh with another AGENT_MOUNT than the kept config exits 2" test "$rc" = 2
check "  ... naming the config key" contains "$tmp/setup.log" 'config.json has vault.mount "agents" but AGENT_MOUNT is "other-agents"'
check "  ... before enabling anything" test "$(api GET sys/auth | jq_py "'other-agents/' in d['data']")" = False
setup REVOKE_TOKENS=0; rc=$?
check "setup.sh REVOKE_TOKENS=0 against a config with revoke_tokens exits 2" test "$rc" = 2

echo "setup_check_test: $passed passed, $failed failed"
[ "$failed" = 0 ] && [ "$passed" -gt 0 ]
