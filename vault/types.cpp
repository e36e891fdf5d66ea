#include "vault/types.h"

namespace ps::vault {

std::string_view to_string(Operation op) {
  switch (op) {
    case Operation::health: return "health";
    case Operation::leader: return "leader";
    case Operation::seal_status: return "seal_status";
    case Operation::read_role: return "read_role";
    case Operation::read_role_policies: return "read_role_policies";
    case Operation::write_role_policies: return "write_role_policies";
    case Operation::list_roles: return "list_roles";
    case Operation::write_role: return "write_role";
    case Operation::approle_login: return "approle_login";
    case Operation::lookup_self: return "lookup_self";
    case Operation::renew_self: return "renew_self";
    case Operation::list_secret_id_accessors: return "list_secret_id_accessors";
    case Operation::destroy_secret_id_accessor: return "destroy_secret_id_accessor";
    case Operation::list_token_accessors: return "list_token_accessors";
    case Operation::lookup_token_accessor: return "lookup_token_accessor";
    case Operation::revoke_token_accessor: return "revoke_token_accessor";
  }
  return "unknown";
}

std::string_view to_string(HealthState state) {
  switch (state) {
    case HealthState::active: return "active";
    case HealthState::standby: return "standby";
    case HealthState::dr_secondary: return "dr_secondary";
    case HealthState::performance_standby: return "performance_standby";
    case HealthState::ha_unhealthy: return "ha_unhealthy";
    case HealthState::uninitialized: return "uninitialized";
    case HealthState::sealed: return "sealed";
    case HealthState::removed: return "removed";
  }
  return "unknown";
}

}  // namespace ps::vault
