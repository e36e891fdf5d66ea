# t4-observer: PLACEHOLDER tier policy for policy-sidecar.
# T4: full access within the agent's scope.
# Replace the paths with what trust tier 4 may really touch. setup.sh writes this file
# only when no policy of this name exists (OVERWRITE_TIER_POLICIES=1 replaces it).
# Every agent token also gets the `default` policy (lookup-self, renew-self, ...).

path "secret/data/agents/*" {
  capabilities = ["create", "read", "update", "delete", "list"]
}
