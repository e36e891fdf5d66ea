// What Vault should hold for an agent: the role its id maps to and the token_policies its tier
// maps to, and how a role's current list becomes the list to write.
//
// Compare as sorted sets of token_policies (never the legacy `policies` field). The managed
// policies are the union of all tiers' lists; a role's other policies are kept unless
// roles.exclusive is set.
//
// Immutable after create(), so it is shared freely between threads (std::shared_ptr<const>).
#pragma once

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "engine/ledger/outbox.h"
#include "engine/base/status.h"
#include "sidecar/config/sync_settings.h"
#include "vault/names.h"

namespace ps::sidecar {

using PolicyList = std::vector<std::string>;

// Sorted and without duplicates.
PolicyList sorted_set(PolicyList policies);
// Trimmed, lowercased, sorted, without duplicates and empty names: how Vault's policy names
// compare (it lowercases them at login and on the per-field endpoint). Every comparison of a
// role's list uses this form.
PolicyList canonical(const PolicyList& policies);
// "a, b, c" (or "(none)") for messages and plans.
std::string describe_policies(const PolicyList& policies);

class DesiredState {
 public:
  // Checks the template (RoleNamer) and the policy names (non-empty lowercase printable ASCII
  // without ',' or whitespace, not "root"), and that every tier 0..4 has a list.
  // invalid_argument naming the key (roles.tier_policies."2"[0] ...).
  static Result<std::shared_ptr<const DesiredState>> create(const RolesConfig& roles,
                                                                    std::string_view mount);

  // The tier's policies, sorted; empty for a tier without an entry.
  PolicyList policies_for_tier(std::int64_t tier) const;
  // Union of every tier's list, sorted.
  const PolicyList& managed() const { return managed_; }
  bool exclusive() const { return roles_.exclusive; }
  MissingRole missing_role() const { return roles_.missing_role; }
  const RolesConfig& roles() const { return roles_; }
  const vault::RoleNamer& namer() const { return namer_; }

  // The list to write when the role holds `current`: `desired` plus the policies of `current`
  // that are not managed, or exactly `desired` when exclusive. Sorted, unique.
  PolicyList merged(const PolicyList& current, const PolicyList& desired) const;
  // True when `found` says what `desired` says: the managed part of canonical(found) equals
  // `desired` as a set (the whole of it when exclusive).
  bool matches(const PolicyList& found, const PolicyList& desired) const;
  // The unjustified-privilege rule's input: the managed tier policies in `found` that
  // `justified` does not hold (sorted). Non-empty means the role grants more than the ledger
  // says; every mode but an explicit `ignore` removes them (never a dry run).
  PolicyList unjustified(const PolicyList& found, const PolicyList& justified) const;

  // The outbox entry for `agent_id` at `tier`. When the id cannot name a role, `role` is empty
  // and `problem` explains (the row is parked at once).
  engine::DesiredChange change_for(std::string_view agent_id, std::int64_t tier,
                                   engine::ChangeKind kind, engine::WallTime at) const;

 private:
  DesiredState(RolesConfig roles, vault::RoleNamer namer, PolicyList managed)
      : roles_(std::move(roles)), namer_(std::move(namer)), managed_(std::move(managed)) {}

  RolesConfig roles_;
  vault::RoleNamer namer_;
  PolicyList managed_;
  std::set<std::string> managed_set_;
};

}  // namespace ps::sidecar
