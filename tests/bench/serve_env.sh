# Sourced by the serve benchmarks (webhook_bench.sh, listener_bench.sh): one vault-emulator and
# one `policy-sidecar serve` over TLS on loopback, on a ledger seeded by webhook-load.
#
# The caller sets `work` (a scratch directory holding pki/ from ps-dev-pki) and `pids` (an
# array its cleanup kills), then calls, in order:
#   bench_seed BUILD AGENTS      a fresh ledger of AGENTS tier-0 agents, a webhook secret and an
#                                API token (mode 600) in $work
#   bench_start BIN JOURNAL      the emulator, then serve (binaries from build dir BIN, ledger
#                                journal mode JOURNAL, audit in $work/audit.jsonl); sets
#                                vault_addr, url and serve_pid, or exits 1 with serve's log

bench_seed() {
  rm -f "$work"/ledger.db* "$work"/*.out "$work"/audit.jsonl
  "$1/tests/bench/webhook/webhook-load" seed --ledger "$work/ledger.db" --agents "$2" >/dev/null
  printf 'whsec_%s\n' "$(head -c 32 /dev/urandom | base64)" >"$work/secrets"
  head -c 24 /dev/urandom | base64 >"$work/api-token"
  chmod 600 "$work/secrets" "$work/api-token"
}

bench_start() {
  local bin=$1 journal=$2
  "$bin/vault/emulator/vault-emulator" --listen 127.0.0.1:0 --tls-cert "$work/pki/server.pem" \
    --tls-key "$work/pki/server-key.pem" --dev --dev-root-token root \
    >"$work/emulator.out" 2>"$work/emulator.log" &
  pids+=($!)
  for _ in $(seq 50); do grep -qs VAULT_ADDR "$work/emulator.out" && break; sleep 0.1; done
  vault_addr=$(sed -n 's/^VAULT_ADDR=//p' "$work/emulator.out")

  cat >"$work/config.json" <<JSON
{
  "ledger": {"path": "$work/ledger.db", "journal_mode": "$journal"},
  "vault": {"address": "$vault_addr", "ca_cert": "$work/pki/ca.pem"},
  "roles": {"missing_role": "create"},
  "sync": {"rate_limit_per_s": 0, "poll_interval_ms": 1000},
  "reconcile": {"interval_s": 0},
  "evaluate": {"interval_s": 0},
  "listener": {"address": "127.0.0.1:0", "tls_cert": "$work/pki/server.pem",
               "tls_key": "$work/pki/server-key.pem"},
  "webhook": {"secrets_file": "$work/secrets"},
  "api": {"token_file": "$work/api-token"},
  "audit": {"path": "$work/audit.jsonl"},
  "log": {"level": "warn"}
}
JSON
  VAULT_TOKEN=root "$bin/sidecar/policy-sidecar" serve --config "$work/config.json" \
    >"$work/serve.out" 2>"$work/serve.log" &
  serve_pid=$!
  pids+=($serve_pid)
  for _ in $(seq 100); do grep -qs POLICY_SIDECAR_ADDR "$work/serve.out" && break; sleep 0.1; done
  url=$(sed -n 's/^POLICY_SIDECAR_ADDR=//p' "$work/serve.out")
  [ -n "$url" ] || { cat "$work/serve.log"; exit 1; }
}
