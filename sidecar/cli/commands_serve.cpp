#include "sidecar/cli/commands_serve.h"

#include <cstdio>
#include <cstdlib>

#include "sidecar/cli/process_hardening.h"
#include "sidecar/server/daemon.h"
#include "sidecar/server/signals.h"

namespace ps::sidecar {

int run_serve_command(const ServeContext& ctx) {
  if (!ctx.config_path) {
    ctx.env.err << "policy-sidecar: serve needs --config FILE (it is re-read on SIGHUP)\n";
    return kExitUsageError;
  }
  // Before any thread exists: every thread inherits the blocked signals, and only the
  // control loop takes them (sigtimedwait), never a handler.
  server::SignalWaiter::block();
  // The process holds Vault tokens and webhook secrets in memory: never in a core file, and
  // not readable through ptrace or /proc/<pid>/mem by other processes of the same user.
  if (Status s = disable_core_dumps(); !s.ok()) {
    ctx.env.err << "policy-sidecar: serve: " << s.message() << '\n';
    return kExitFailed;
  }

  server::DaemonEnvironment denv{
      *ctx.config_path,
      ctx.db_path,
      ctx.db_from_config,
      ctx.env.clock,
      ctx.env.random ? ctx.env.random : make_real_random(),
      [&ctx](const char* name) { return ctx.env.getenv(name); },
      Logger::stderr_sink(),
      ctx.env.getenv("NOTIFY_SOCKET").value_or(""),
      ctx.env.out,
  };
  auto daemon = server::Daemon::start(ctx.config, std::move(denv));
  if (!daemon.ok()) {
    const auto& s = daemon.status();
    ctx.env.err << "policy-sidecar: serve: " << s.message() << '\n';
    return s.code() == Code::invalid_argument ? kExitConfig : kExitFailed;
  }
  const int status = (*daemon)->run();
  // Exit without destructors: a thread may still be finishing in the background (an idle
  // kept-alive connection holds httplib's pool until its idle timeout), and everything that
  // matters is already on disk (ledger commits, audit records) or flushed here.
  ctx.env.out.flush();
  ctx.env.err.flush();
  std::fflush(nullptr);
  std::_Exit(status);
}

}  // namespace ps::sidecar
