#!/usr/bin/env bash
# Configures a Vault for policy-sidecar through Vault's HTTP API (curl; python3 only to read and
# write JSON). Each step names the equivalent `vault` CLI command for operators who have it.
#
#   VAULT_ADDR=https://vault.example:8200 VAULT_TOKEN=<admin token> \
#   VAULT_CACERT=/etc/ssl/vault-ca.pem OUT_DIR=/etc/policy-sidecar examples/vault/setup.sh
#
# What it does (idempotent: run it again and it converges, changing nothing that is right):
#   1. checks Vault is reachable, initialised and unsealed, and the admin token is valid;
#   2. enables a SEPARATE AppRole mount for the agents (AGENT_MOUNT, default "agents") and caps
#      its token TTLs (sys/auth/<mount>/tune);
#   3. writes the placeholder tier policies t0-observer..t4-observer (only when missing);
#   4. writes the sidecar's least-privilege policy (sidecar-policy.hcl for AGENT_MOUNT);
#   5. enables the sidecar's OWN login mount (SIDECAR_MOUNT, default "policy-sidecar") and
#      creates its role there - never on the agents' mount, so the policy's `+` cannot reach it;
#   6. writes OUT_DIR/role-id and OUT_DIR/secret-id (mode 0600; an existing secret-id that
#      still works is kept) and OUT_DIR/config.json (only when missing).
# It never prints a token or a secret ID.
#
# Inputs (environment):
#   VAULT_ADDR (required)      https://host:8200
#   VAULT_TOKEN (required)     an admin token (needs sudo on sys/auth/*, write on
#                              sys/policies/acl/*, write on auth/<SIDECAR_MOUNT>/role/*)
#   VAULT_CACERT               CA file for Vault's certificate (else the system CAs)
#   VAULT_NAMESPACE            Vault Enterprise namespace (sent as X-Vault-Namespace)
#   AGENT_MOUNT                agents' AppRole mount                    [agents]
#   AGENT_MOUNT_MAX_TTL        ceiling on every agent token's TTL       [24h]
#   SIDECAR_MOUNT              the sidecar's login mount (may be the default "approle",
#                              never AGENT_MOUNT)                       [policy-sidecar]
#   SIDECAR_ROLE               the sidecar's role name                  [policy-sidecar]
#   SIDECAR_POLICY             the sidecar's policy name                [policy-sidecar]
#   SIDECAR_TOKEN_TTL / SIDECAR_TOKEN_MAX_TTL   its tokens              [1h / 24h]
#   SIDECAR_SECRET_ID_TTL      0 = the secret ID never expires          [0]
#   SIDECAR_CIDRS              comma-separated CIDRs the sidecar logs in from (binds the
#                              secret ID and the tokens; recommended)   [none]
#   REVOKE_TOKENS=1            also grant token revocation (sudo on auth/token/accessors)
#                              [what a kept OUT_DIR/config.json says, else 0]
#   OUT_DIR                    where role-id, secret-id, config.json go [./policy-sidecar-vault]
#   LEDGER_PATH                the ledger path written into config.json
#                              [/opt/agent-governance/ledger/governance.db]
#   ROTATE_SECRET_ID=1         issue a new secret ID (and destroy the old one)
#   OVERWRITE_TIER_POLICIES=1  replace existing tier policies with the placeholders
#   OVERWRITE_CONFIG=1         rewrite OUT_DIR/config.json
# Exit: 0 done; 1 Vault refused or failed a step (the message names it); 2 bad input.
set -euo pipefail
umask 077

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
AGENT_MOUNT=${AGENT_MOUNT:-agents}
AGENT_MOUNT_MAX_TTL=${AGENT_MOUNT_MAX_TTL:-24h}
SIDECAR_MOUNT=${SIDECAR_MOUNT:-policy-sidecar}
SIDECAR_ROLE=${SIDECAR_ROLE:-policy-sidecar}
SIDECAR_POLICY=${SIDECAR_POLICY:-policy-sidecar}
SIDECAR_TOKEN_TTL=${SIDECAR_TOKEN_TTL:-1h}
SIDECAR_TOKEN_MAX_TTL=${SIDECAR_TOKEN_MAX_TTL:-24h}
SIDECAR_SECRET_ID_TTL=${SIDECAR_SECRET_ID_TTL:-0}
SIDECAR_CIDRS=${SIDECAR_CIDRS:-}
REVOKE_TOKENS=${REVOKE_TOKENS:-}
OUT_DIR=${OUT_DIR:-./policy-sidecar-vault}
LEDGER_PATH=${LEDGER_PATH:-/opt/agent-governance/ledger/governance.db}
TIERS="t0-observer t1-observer t2-observer t3-observer t4-observer"

say() { printf '==> %s\n' "$*"; }
cli() { printf '    (vault CLI: %s)\n' "$*"; }
die() { printf 'setup.sh: %s\n' "$1" >&2; exit "${2:-1}"; }

# --- inputs ----------------------------------------------------------------------------------
[ -n "${VAULT_ADDR:-}" ] || die "VAULT_ADDR is not set (https://host:8200)" 2
[ -n "${VAULT_TOKEN:-}" ] || die "VAULT_TOKEN is not set (an admin token)" 2
# Visible ASCII only (as Vault's Go client requires): nothing can break out of the header line.
[[ $VAULT_TOKEN != *$'\n'* ]] && ! printf '%s' "$VAULT_TOKEN" | LC_ALL=C grep -q '[^!-~]' || die "VAULT_TOKEN contains characters a token cannot have (value not shown)" 2
command -v curl >/dev/null || die "curl is not installed" 2
command -v python3 >/dev/null || die "python3 is not installed" 2
name_re='^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?$'
for v in AGENT_MOUNT SIDECAR_MOUNT SIDECAR_ROLE SIDECAR_POLICY; do
  [[ ${!v} =~ $name_re ]] || die "$v=\"${!v}\": letters, digits, _ - . only" 2
done
[ "$AGENT_MOUNT" != "$SIDECAR_MOUNT" ] ||
  die "AGENT_MOUNT and SIDECAR_MOUNT are both \"$AGENT_MOUNT\": the sidecar's grant on the agents' roles would cover its own role" 2
[ "$AGENT_MOUNT" != token ] && [ "$SIDECAR_MOUNT" != token ] || die "\"token\" is not an AppRole mount" 2
[ -z "${VAULT_CACERT:-}" ] || [ -r "$VAULT_CACERT" ] || die "VAULT_CACERT=$VAULT_CACERT is not readable" 2
case "$REVOKE_TOKENS" in ''|0|1) ;; *) die "REVOKE_TOKENS must be 0 or 1" 2 ;; esac

# A config.json this run keeps must agree with the policy it writes: same mounts, same
# revocation settings (REVOKE_TOKENS defaults to the config's).
if [ -e "$OUT_DIR/config.json" ] && [ "${OVERWRITE_CONFIG:-0}" != 1 ]; then
  if kept=$(python3 - "$OUT_DIR/config.json" 2>/dev/null <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
v = c.get("vault", {})
r = c.get("revocation", {}).get("vault", {})
print(v.get("mount", "approle"), v.get("auth", {}).get("mount", "approle"),
      1 if r.get("revoke_tokens", False) else 0)
PY
  ); then
    read -r kept_agents kept_sidecar kept_revoke <<< "$kept"
    REVOKE_TOKENS=${REVOKE_TOKENS:-$kept_revoke}
    for pair in "AGENT_MOUNT=$AGENT_MOUNT vault.mount=$kept_agents" \
                "SIDECAR_MOUNT=$SIDECAR_MOUNT vault.auth.mount=$kept_sidecar" \
                "REVOKE_TOKENS=$REVOKE_TOKENS revocation.vault.revoke_tokens=$kept_revoke"; do
      read -r mine theirs <<< "$pair"
      [ "${mine#*=}" = "${theirs#*=}" ] ||
        die "$OUT_DIR/config.json has ${theirs%%=*} \"${theirs#*=}\" but ${mine%%=*} is \"${mine#*=}\": set OVERWRITE_CONFIG=1 to rewrite the config, or ${mine%%=*}=${theirs#*=}" 2
    done
  else
    printf 'setup.sh: warning: cannot read %s as plain JSON; not checking it against this run\n' \
      "$OUT_DIR/config.json" >&2
  fi
fi
REVOKE_TOKENS=${REVOKE_TOKENS:-0}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The token goes to curl in a header file (mode 0600), never on its command line.
{
  printf 'X-Vault-Token: %s\n' "$VAULT_TOKEN"
  printf 'X-Vault-Request: true\n'
  [ -z "${VAULT_NAMESPACE:-}" ] || printf 'X-Vault-Namespace: %s\n' "$VAULT_NAMESPACE"
} > "$work/headers"
curl_tls=()
[ -z "${VAULT_CACERT:-}" ] || curl_tls=(--cacert "$VAULT_CACERT")

# vault METHOD PATH [BODY_FILE]: the answer's body goes to $work/body, the status to $status.
# A transport failure stops the script.
vault() {
  local method=$1 path=$2 body=${3:-}
  local args=(-sS -o "$work/body" -w '%{http_code}' -X "$method" -H "@$work/headers"
              "${curl_tls[@]}" --connect-timeout 10 --max-time 60)
  [ -z "$body" ] || args+=(-H 'Content-Type: application/json' --data-binary "@$body")
  if ! status=$(curl "${args[@]}" "${VAULT_ADDR%/}/v1/$path" 2>"$work/curl-err"); then
    die "cannot reach Vault at $VAULT_ADDR ($method $path): $(tr '\n' ' ' < "$work/curl-err")"
  fi
}
# The errors of the last answer, on one line (Vault's errors never contain secrets).
vault_errors() {
  python3 - "$work/body" <<'PY'
import json, sys
try:
    errs = json.load(open(sys.argv[1])).get("errors") or []
except Exception:
    errs = []
print("; ".join(" ".join(e.split()) for e in errs) or "(no error text)")
PY
}
# expect STATUS... -- what: stops unless the last status is one of the given ones.
expect() {
  local ok
  local what=${*: -1}
  for ok in "${@:1:$#-1}"; do [ "$status" = "$ok" ] && return 0; done
  case "$status" in
    403) die "$what: permission denied (HTTP 403: $(vault_errors)) - is VAULT_TOKEN an admin token?" ;;
    *) die "$what: HTTP $status: $(vault_errors)" ;;
  esac
}
# json_field FILE EXPR: prints a field of a JSON file (EXPR indexes `d`, the parsed document),
# without a trailing newline (the credential files hold exactly the value).
json_field() {
  python3 - "$1" "$2" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
v = eval(sys.argv[2], {"__builtins__": {}}, {"d": d})
sys.stdout.write("" if v is None else (json.dumps(v) if isinstance(v, (dict, list)) else str(v)))
PY
}
# json_body KEY=VALUE...: a JSON object of strings into $work/req (VALUE @file = file's text;
# KEY:=JSON = a JSON value).
json_body() {
  python3 - "$work/req" "$@" <<'PY'
import json, sys
out, doc = sys.argv[1], {}
for arg in sys.argv[2:]:
    k, v = arg.split("=", 1)
    if k.endswith(":"):
        doc[k[:-1]] = json.loads(v)
    else:
        doc[k] = open(v[1:]).read() if v.startswith("@") else v
json.dump(doc, open(out, "w"))
PY
}
cidr_list() {
  python3 -c 'import json,sys; print(json.dumps([c.strip() for c in sys.argv[1].split(",") if c.strip()]))' "$1"
}

# --- 1. Vault state and the admin token --------------------------------------------------------
say "Vault at $VAULT_ADDR"
cli "vault status"
vault GET "sys/health?standbyok=true"
case "$status" in
  200|429|473) ;;
  501) die "Vault is not initialized" ;;
  503) die "Vault is sealed: unseal it first (vault operator unseal)" ;;
  *) die "sys/health answered HTTP $status" ;;
esac
cli "vault token lookup"
vault GET auth/token/lookup-self
expect 200 "the admin token (VAULT_TOKEN)"

# --- 2. the agents' AppRole mount --------------------------------------------------------------
cli "vault auth list -format=json"
vault GET sys/auth
expect 200 "listing auth mounts (read on sys/auth)"
cp "$work/body" "$work/mounts"
mount_type() { json_field "$work/mounts" "(d.get('data') or d).get('$1/', {}).get('type', '')"; }

enable_approle() {  # enable_approle MOUNT DESCRIPTION
  local t
  t=$(mount_type "$1")
  if [ -z "$t" ]; then
    say "enabling AppRole at auth/$1/"
    cli "vault auth enable -path=$1 -description=\"$2\" approle"
    json_body type=approle "description=$2"
    vault POST "sys/auth/$1" "$work/req"
    expect 204 200 "enabling auth/$1/ (needs sudo on sys/auth/$1)"
  elif [ "$t" = approle ]; then
    say "auth/$1/ is already an AppRole mount"
  else
    die "auth/$1/ is a \"$t\" mount, not approle: choose another mount name" 2
  fi
}
enable_approle "$AGENT_MOUNT" "AI agents (roles managed by policy-sidecar)"
say "capping agent tokens at $AGENT_MOUNT_MAX_TTL (mount tune)"
cli "vault auth tune -max-lease-ttl=$AGENT_MOUNT_MAX_TTL $AGENT_MOUNT/"
vault GET "sys/auth/$AGENT_MOUNT/tune"
expect 200 "reading auth/$AGENT_MOUNT/ tuning"
cur_default=$(json_field "$work/body" "d['data']['default_lease_ttl']")
# The default lease may not exceed the new max: lower it with it (Vault refuses otherwise).
json_body "max_lease_ttl=$AGENT_MOUNT_MAX_TTL"
vault POST "sys/auth/$AGENT_MOUNT/tune" "$work/req"
if [ "$status" = 400 ] && vault_errors | grep -q 'less than backend default'; then
  say "  (default lease TTL $cur_default s is above it: setting both)"
  json_body "max_lease_ttl=$AGENT_MOUNT_MAX_TTL" "default_lease_ttl=$AGENT_MOUNT_MAX_TTL"
  vault POST "sys/auth/$AGENT_MOUNT/tune" "$work/req"
fi
expect 204 200 "tuning auth/$AGENT_MOUNT/"

# --- 3. tier policies --------------------------------------------------------------------------
for p in $TIERS; do
  vault GET "sys/policies/acl/$p"
  if [ "$status" = 200 ] && [ "${OVERWRITE_TIER_POLICIES:-0}" != 1 ]; then
    say "tier policy $p exists (kept; OVERWRITE_TIER_POLICIES=1 replaces it)"
    continue
  fi
  [ "$status" = 200 ] || expect 404 "reading policy $p"
  say "writing placeholder tier policy $p"
  cli "vault policy write $p $here/tiers/$p.hcl"
  json_body "policy=@$here/tiers/$p.hcl"
  vault PUT "sys/policies/acl/$p" "$work/req"
  expect 204 200 "writing policy $p"
done

# --- 4. the sidecar's policy -------------------------------------------------------------------
# sidecar-policy.hcl is `policy-sidecar check --policy` for the default mount "agents"; only the
# mount name changes here.
python3 - "$here/sidecar-policy.hcl" "$AGENT_MOUNT" "$REVOKE_TOKENS" \
    "$here/sidecar-policy-revoke-tokens.hcl" > "$work/sidecar.hcl" <<'PY'
import sys
text = open(sys.argv[1]).read()
mount = sys.argv[2]
text = text.replace('"auth/agents/', '"auth/%s/' % mount)
text = text.replace('managed AppRole mount "agents"', 'managed AppRole mount "%s"' % mount)
if sys.argv[3] == "1":
    text += "\n" + open(sys.argv[4]).read()
sys.stdout.write(text)
PY
say "writing the sidecar's policy $SIDECAR_POLICY (agents' mount auth/$AGENT_MOUNT/)"
cli "vault policy write $SIDECAR_POLICY sidecar-policy.hcl"
json_body "policy=@$work/sidecar.hcl"
vault PUT "sys/policies/acl/$SIDECAR_POLICY" "$work/req"
expect 204 200 "writing policy $SIDECAR_POLICY"

# --- 5. the sidecar's own mount and role -------------------------------------------------------
enable_approle "$SIDECAR_MOUNT" "policy-sidecar's own login"
say "writing role $SIDECAR_ROLE on auth/$SIDECAR_MOUNT/"
cidrs=$(cidr_list "$SIDECAR_CIDRS")
cli "vault write auth/$SIDECAR_MOUNT/role/$SIDECAR_ROLE token_policies=$SIDECAR_POLICY token_ttl=$SIDECAR_TOKEN_TTL token_max_ttl=$SIDECAR_TOKEN_MAX_TTL token_type=service secret_id_ttl=$SIDECAR_SECRET_ID_TTL secret_id_num_uses=0${SIDECAR_CIDRS:+ secret_id_bound_cidrs=$SIDECAR_CIDRS token_bound_cidrs=$SIDECAR_CIDRS}"
json_body "token_policies:=[\"$SIDECAR_POLICY\"]" "token_ttl=$SIDECAR_TOKEN_TTL" \
  "token_max_ttl=$SIDECAR_TOKEN_MAX_TTL" token_type=service \
  "secret_id_ttl=$SIDECAR_SECRET_ID_TTL" "secret_id_num_uses:=0" "bind_secret_id:=true" \
  "secret_id_bound_cidrs:=$cidrs" "token_bound_cidrs:=$cidrs"
vault POST "auth/$SIDECAR_MOUNT/role/$SIDECAR_ROLE" "$work/req"
expect 204 200 "writing role auth/$SIDECAR_MOUNT/role/$SIDECAR_ROLE"

# --- 6. credentials and config -----------------------------------------------------------------
mkdir -p "$OUT_DIR"
chmod 0700 "$OUT_DIR"
out=$(cd "$OUT_DIR" && pwd)
write_private() {  # write_private FILE < content: mode 0600, replaced atomically
  local tmp
  tmp=$(mktemp "$1.XXXXXX")
  cat > "$tmp"
  chmod 0600 "$tmp"
  mv -f "$tmp" "$1"
}
say "writing $out/role-id (0600)"
cli "vault read -field=role_id auth/$SIDECAR_MOUNT/role/$SIDECAR_ROLE/role-id > role-id"
vault GET "auth/$SIDECAR_MOUNT/role/$SIDECAR_ROLE/role-id"
expect 200 "reading the role ID"
json_field "$work/body" "d['data']['role_id']" | write_private "$out/role-id"

keep=0
old_accessor=""
if [ -s "$out/secret-id" ]; then
  json_body "secret_id=@$out/secret-id"
  vault POST "auth/$SIDECAR_MOUNT/role/$SIDECAR_ROLE/secret-id/lookup" "$work/req"
  if [ "$status" = 200 ]; then  # 204: unknown or expired
    old_accessor=$(json_field "$work/body" "d['data']['secret_id_accessor']")
    [ "${ROTATE_SECRET_ID:-0}" = 1 ] || keep=1
  fi
fi
if [ "$keep" = 1 ]; then
  say "$out/secret-id still works (kept; ROTATE_SECRET_ID=1 issues a new one)"
else
  say "issuing a secret ID into $out/secret-id (0600)"
  cli "vault write -f -field=secret_id auth/$SIDECAR_MOUNT/role/$SIDECAR_ROLE/secret-id > secret-id"
  echo '{}' > "$work/req"
  vault POST "auth/$SIDECAR_MOUNT/role/$SIDECAR_ROLE/secret-id" "$work/req"
  expect 200 "issuing a secret ID"
  json_field "$work/body" "d['data']['secret_id']" | write_private "$out/secret-id"
  if [ -n "$old_accessor" ]; then
    say "destroying the previous secret ID"
    cli "vault write auth/$SIDECAR_MOUNT/role/$SIDECAR_ROLE/secret-id-accessor/destroy secret_id_accessor=<old>"
    json_body "secret_id_accessor=$old_accessor"
    vault POST "auth/$SIDECAR_MOUNT/role/$SIDECAR_ROLE/secret-id-accessor/destroy" "$work/req"
    expect 204 200 "destroying the previous secret ID"
  fi
fi

if [ -e "$out/config.json" ] && [ "${OVERWRITE_CONFIG:-0}" != 1 ]; then
  say "$out/config.json exists (kept; OVERWRITE_CONFIG=1 rewrites it)"
else
  say "writing $out/config.json"
  python3 - "$out" "$VAULT_ADDR" "${VAULT_CACERT:-}" "$AGENT_MOUNT" "$SIDECAR_MOUNT" \
      "$LEDGER_PATH" "$REVOKE_TOKENS" "${VAULT_NAMESPACE:-}" > "$work/config.json" <<'PY'
import json, os, sys
out, addr, cacert, agents, sidecar, ledger, revoke, ns = sys.argv[1:9]
vault = {"address": addr}
if cacert:
    vault["ca_cert"] = os.path.abspath(cacert)
if ns:
    vault["namespace"] = ns
vault["mount"] = agents
vault["auth"] = {"method": "approle", "mount": sidecar,
                 "role_id_file": os.path.join(out, "role-id"),
                 "secret_id_file": os.path.join(out, "secret-id")}
config = {
    "ledger": {"path": ledger},
    "vault": vault,
    "roles": {
        "name_template": "agent-{agent_id}",
        "tier_policies": {str(t): ["t%d-observer" % t] for t in range(5)},
        "missing_role": "create",
    },
    "revocation": {"vault": {"destroy_secret_ids": True, "revoke_tokens": revoke == "1"}},
    # Loopback plain HTTP to start with: give the listener a certificate before exposing it.
    "listener": {"address": "127.0.0.1:8443", "tls_disable": True},
}
json.dump(config, sys.stdout, indent=2)
sys.stdout.write("\n")
PY
  install -m 0640 "$work/config.json" "$out/config.json"
fi
cat "$out/config.json"
say "done. Next: policy-sidecar --config $out/config.json check"
