# t3-observer: PLACEHOLDER tier policy for policy-sidecar.
# T3: read/write in production, no destructive operations.
# Replace the paths with what trust tier 3 may really touch. setup.sh writes this file
# only when no policy of this name exists (OVERWRITE_TIER_POLICIES=1 replaces it).
# Every agent token also gets the `default` policy (lookup-self, renew-self, ...).

path "secret/data/agents/nonprod/*" {
  capabilities = ["create", "read", "update", "delete", "list"]
}
path "secret/data/agents/prod/*" {
  capabilities = ["create", "read", "update", "list"]
}
