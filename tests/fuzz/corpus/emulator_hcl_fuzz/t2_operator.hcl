# tier 2 operator
path "secret/data/ops/*" {
  capabilities = ["create", "read", "update", "list"]
}
path "auth/approle/role/+/policies" {
  capabilities = ["deny"]
  allowed_parameters = {
    "token_policies" = ["t0-observer", "t1-observer"]
  }
  min_wrapping_ttl = "1h"
}
