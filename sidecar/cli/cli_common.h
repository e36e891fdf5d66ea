// What every command of the CLI shares: the error line, the ledger options from the config,
// the schema check and migration write commands run first, and who an operator is.
// Internal to sidecar/cli.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "engine/ledger/ledger.h"
#include "sidecar/cli/commands.h"
#include "sidecar/config/config.h"

namespace ps::sidecar::cli {

// "policy-sidecar: <message>" on stderr; returns `code`.
int fail(const CliEnvironment& env, const std::string& message, int code = kExitFailed);
// The same for a ledger Status (invalid data is named as such).
int fail(const CliEnvironment& env, const Status& s);

engine::LedgerOptions ledger_options(const Config& config, const std::string& db_path,
                                     bool read_only);

// Refuses a newer schema, then applies the missing migrations, telling the operator on stderr
// (the first run on a large ledger builds indexes and can take a while).
Status migrate_for_writes(const CliEnvironment& env, engine::Ledger& ledger, engine::WallTime now,
                          std::vector<engine::AppliedMigration>* applied = nullptr);
// Opens the ledger and migrate_for_writes().
Status open_and_migrate(const CliEnvironment& env, const engine::LedgerOptions& options,
                        engine::WallTime now);

// --by, else $USER, else "operator".
std::string actor(const CliEnvironment& env, const std::optional<std::string>& by);

}  // namespace ps::sidecar::cli
