# t0-observer: PLACEHOLDER tier policy for policy-sidecar.
# T0: observe only - no access to infrastructure secrets.
# Replace the paths with what trust tier 0 may really touch. setup.sh writes this file
# only when no policy of this name exists (OVERWRITE_TIER_POLICIES=1 replaces it).
# Every agent token also gets the `default` policy (lookup-self, renew-self, ...).

# Read what every agent may see (replace with your own observer paths).
path "secret/data/agents/public/*" {
  capabilities = ["read", "list"]
}
