// The config file's sections for Vault sync: vault, roles, sync, reconcile (README "Vault
// sync" lists every key with its default). Parsed into Config (sidecar/config.h) by the
// section table in config.cpp; each parser refuses unknown keys and wrong types naming the
// key path, like the other sections.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "engine/base/status.h"
#include "vault/config.h"

namespace ps::sidecar {

struct Config;

// The defaults of the vault section (README "Vault sync"): the Vault client's, with
// vault.max_retries 2 and secret files (token file, role-id and secret-id files) refused when
// group or others may read them.
vault::VaultConfig default_vault_config();

Status parse_vault_section(const nlohmann::ordered_json& section, const std::string& path,
                                   Config& config);
Status parse_roles_section(const nlohmann::ordered_json& section, const std::string& path,
                                   Config& config);
Status parse_sync_section(const nlohmann::ordered_json& section, const std::string& path,
                                  Config& config);
Status parse_reconcile_section(const nlohmann::ordered_json& section,
                                       const std::string& path, Config& config);

}  // namespace ps::sidecar
