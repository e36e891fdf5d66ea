#include "sidecar/cli/cli_common.h"

#include "engine/ledger/ledger_migrations.h"

namespace ps::sidecar::cli {

int fail(const CliEnvironment& env, const std::string& message, int code) {
  env.err << "policy-sidecar: " << message << '\n';
  return code;
}

int fail(const CliEnvironment& env, const Status& s) {
  if (s.code() == Code::invalid_data) return fail(env, "invalid ledger data: " + s.message());
  return fail(env, s.message());
}

engine::LedgerOptions ledger_options(const Config& config, const std::string& db_path,
                                     bool read_only) {
  return {db_path, config.ledger.busy_timeout_ms, read_only, config.ledger.scan_threads};
}

Status migrate_for_writes(const CliEnvironment& env, engine::Ledger& ledger, engine::WallTime now,
                          std::vector<engine::AppliedMigration>* applied) {
  if (Status s = ledger.check_schema_not_newer(); !s.ok()) return s;
  auto done = ledger.migrate(now, engine::ledger_migrations(), [&](const engine::Migration& m) {
    env.err << "policy-sidecar: applying ledger migration " << m.version << " (" << m.name
            << ")..." << std::endl;
  });
  if (!done.ok()) return done.status();
  if (applied) *applied = std::move(done).value();
  return Status::success();
}

Status open_and_migrate(const CliEnvironment& env, const engine::LedgerOptions& options,
                        engine::WallTime now) {
  auto ledger = engine::Ledger::open(options);
  if (!ledger.ok()) return ledger.status();
  return migrate_for_writes(env, **ledger, now);
}

std::string actor(const CliEnvironment& env, const std::optional<std::string>& by) {
  if (by && !by->empty()) return *by;
  std::string user = env.getenv("USER").value_or("");
  return user.empty() ? "operator" : user;
}

}  // namespace ps::sidecar::cli
