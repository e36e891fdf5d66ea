# t1-observer: PLACEHOLDER tier policy for policy-sidecar.
# T1: read-only access to non-production.
# Replace the paths with what trust tier 1 may really touch. setup.sh writes this file
# only when no policy of this name exists (OVERWRITE_TIER_POLICIES=1 replaces it).
# Every agent token also gets the `default` policy (lookup-self, renew-self, ...).

path "secret/data/agents/nonprod/*" {
  capabilities = ["read", "list"]
}
