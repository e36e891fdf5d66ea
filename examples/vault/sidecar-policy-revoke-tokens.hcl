# Opt-in (revocation.vault.revoke_tokens = true; setup.sh REVOKE_TOKENS=1): revoke the tokens a
# demoted agent already holds. Listing token accessors is root-protected, so this needs `sudo`:
# with it the sidecar can list (and look up, and revoke) EVERY token's accessor in Vault, not only
# the agents'. Grant it only if you accept that; otherwise role TTLs bound old tokens.

# revocation: list token accessors
path "auth/token/accessors" {
  capabilities = ["list", "sudo"]
}

# revocation: each token's role and policies
path "auth/token/lookup-accessor" {
  capabilities = ["update"]
}

# revocation: revoke tokens issued before
path "auth/token/revoke-accessor" {
  capabilities = ["update"]
}
