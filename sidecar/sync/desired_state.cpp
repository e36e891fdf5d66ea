#include "sidecar/sync/desired_state.h"

#include <algorithm>

namespace ps::sidecar {
namespace {


// A policy name as Vault's role API stores it: comma-separated input is split, so a name with
// a comma would become two; whitespace is trimmed; "root" cannot be granted through a role.
std::optional<std::string> policy_name_problem(const std::string& name) {
  if (name.empty()) return "must not be empty";
  if (name == "root") return "\"root\" cannot be managed through a role";
  for (unsigned char c : name) {
    if (c == ',' || c <= 0x20 || c >= 0x7f) {
      return "must be printable ASCII without commas or whitespace";
    }
    if (c >= 'A' && c <= 'Z') return "must be lowercase (Vault stores policy names lowercased)";
  }
  return std::nullopt;
}

}  // namespace

PolicyList sorted_set(PolicyList policies) {
  std::sort(policies.begin(), policies.end());
  policies.erase(std::unique(policies.begin(), policies.end()), policies.end());
  return policies;
}

PolicyList canonical(const PolicyList& policies) {
  PolicyList out;
  out.reserve(policies.size());
  for (const auto& p : policies) {
    std::size_t b = 0, e = p.size();
    while (b < e && (p[b] == ' ' || p[b] == '\t' || p[b] == '\n' || p[b] == '\r')) ++b;
    while (e > b && (p[e - 1] == ' ' || p[e - 1] == '\t' || p[e - 1] == '\n' || p[e - 1] == '\r')) --e;
    if (b == e) continue;
    std::string name = p.substr(b, e - b);
    for (char& c : name) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    out.push_back(std::move(name));
  }
  return sorted_set(std::move(out));
}

std::string describe_policies(const PolicyList& policies) {
  if (policies.empty()) return "(none)";
  std::string out;
  for (const auto& p : policies) {
    if (!out.empty()) out += ", ";
    out += p;
  }
  return out;
}

Result<std::shared_ptr<const DesiredState>> DesiredState::create(
    const RolesConfig& roles, std::string_view mount) {
  auto namer = vault::RoleNamer::create(roles.name_template, mount);
  if (!namer) {
    return Status(Code::invalid_argument, "config: roles.name_template: " + namer.error().message);
  }
  RolesConfig normalized = roles;
  PolicyList managed;
  for (std::int64_t tier = 0; tier <= engine::kMaxTier; ++tier) {
    if (!roles.tier_policies.count(tier)) {
      return Status(Code::invalid_argument, "config: roles.tier_policies: tier \"" +
                                                std::to_string(tier) + "\" is missing");
    }
  }
  for (auto& [tier, policies] : normalized.tier_policies) {
    if (tier < 0 || tier > engine::kMaxTier) {
      return Status(Code::invalid_argument, "config: roles.tier_policies: unknown tier \"" +
                                                std::to_string(tier) + "\" (tiers are 0..4)");
    }
    for (std::size_t i = 0; i < policies.size(); ++i) {
      if (auto why = policy_name_problem(policies[i])) {
        return Status(Code::invalid_argument, "config: roles.tier_policies.\"" +
                                                  std::to_string(tier) + "\"[" +
                                                  std::to_string(i) + "]: " + *why);
      }
    }
    policies = sorted_set(std::move(policies));
    managed.insert(managed.end(), policies.begin(), policies.end());
  }
  auto state = std::shared_ptr<DesiredState>(
      new DesiredState(std::move(normalized), std::move(namer).value(), sorted_set(managed)));
  state->managed_set_ = std::set<std::string>(state->managed_.begin(), state->managed_.end());
  return std::shared_ptr<const DesiredState>(std::move(state));
}

PolicyList DesiredState::policies_for_tier(std::int64_t tier) const {
  auto it = roles_.tier_policies.find(tier);
  return it == roles_.tier_policies.end() ? PolicyList{} : it->second;
}

PolicyList DesiredState::merged(const PolicyList& current, const PolicyList& desired) const {
  PolicyList out = desired;
  if (!roles_.exclusive) {
    for (const auto& p : canonical(current)) {
      if (!managed_set_.count(p)) out.push_back(p);
    }
  }
  return sorted_set(std::move(out));
}

bool DesiredState::matches(const PolicyList& found, const PolicyList& desired) const {
  PolicyList relevant;
  for (const auto& p : canonical(found)) {
    if (roles_.exclusive || managed_set_.count(p)) relevant.push_back(p);
  }
  return sorted_set(std::move(relevant)) == sorted_set(desired);
}

PolicyList DesiredState::unjustified(const PolicyList& found, const PolicyList& justified) const {
  PolicyList out;
  for (const std::string& p : canonical(found)) {
    if (managed_set_.count(p) && !std::binary_search(justified.begin(), justified.end(), p)) {
      out.push_back(p);
    }
  }
  return out;
}

engine::DesiredChange DesiredState::change_for(std::string_view agent_id, std::int64_t tier,
                                               engine::ChangeKind kind,
                                               engine::WallTime at) const {
  engine::DesiredChange change;
  change.agent_id = std::string(agent_id);
  change.tier = tier;
  change.policies = policies_for_tier(tier);
  change.kind = kind;
  change.at = at;
  auto role = namer_.role_for(agent_id);
  if (role) {
    change.role = role->str();
  } else {
    change.problem = "the agent id cannot name a Vault role: " + role.error().message;
  }
  return change;
}

}  // namespace ps::sidecar
