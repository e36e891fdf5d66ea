# policy-sidecar: least privilege for the managed AppRole mount "agents".
# Keep the sidecar's own login role on ANOTHER mount: `+` below matches every role
# of this mount.

# read and write the agents' token_policies
path "auth/agents/role/+/policies" {
  capabilities = ["read", "update"]
}

# find orphan roles (reconcile)
path "auth/agents/role" {
  capabilities = ["list"]
}

# the sidecar's own token
path "auth/token/lookup-self" {
  capabilities = ["read"]
}

# renew the sidecar's own token
path "auth/token/renew-self" {
  capabilities = ["update"]
}

# read roles; create missing ones / delete orphans if enabled
path "auth/agents/role/+" {
  capabilities = ["read", "create"]
}

# revocation: list the role's secret IDs
path "auth/agents/role/+/secret-id" {
  capabilities = ["list"]
}

# revocation: when each secret ID was created
path "auth/agents/role/+/secret-id-accessor/lookup" {
  capabilities = ["update"]
}

# revocation: destroy secret IDs issued before a demotion
path "auth/agents/role/+/secret-id-accessor/destroy" {
  capabilities = ["update"]
}

# check: the tier policy exists
path "sys/policies/acl/t0-observer" {
  capabilities = ["read"]
}

# check: the tier policy exists
path "sys/policies/acl/t1-observer" {
  capabilities = ["read"]
}

# check: the tier policy exists
path "sys/policies/acl/t2-observer" {
  capabilities = ["read"]
}

# check: the tier policy exists
path "sys/policies/acl/t3-observer" {
  capabilities = ["read"]
}

# check: the tier policy exists
path "sys/policies/acl/t4-observer" {
  capabilities = ["read"]
}
