// vault-emulator: the project's own `vault server -dev` (see vault/emulator/README.md).
//
//   vault-emulator --listen 127.0.0.1:PORT --tls-cert F --tls-key F [--tls-client-ca F]
//                  [--dev] [--dev-root-token T] [--state FILE]
//                  [--admin-token T] [--request-log FILE] [--require-request-header]
//                  [--latency SPEC]
//
// Prints exactly one line `VAULT_ADDR=https://HOST:PORT` on stdout when ready; everything else
// goes to stderr. SIGTERM/SIGINT save the state and exit 0; SIGHUP reloads the TLS files.
#include <signal.h>

#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>

#include "tls/tls.h"
#include "engine/base/clock.h"
#include "vault/emulator/emulator.h"
#include "vault/emulator/request_log.h"
#include "vault/emulator/server.h"
#include "vault/emulator/state_file.h"

namespace {

using namespace ps::vault::emulator;

struct Args {
  std::string listen;
  std::string cert, key, client_ca;
  bool dev = false;
  std::string root_token = "root";
  std::string state_file;
  std::string admin_token;
  std::string request_log;
  bool require_request_header = false;
  std::string latency;  // --latency SPEC (vault/emulator/latency.h)
};

const char* kUsage =
    "usage: vault-emulator --listen 127.0.0.1:PORT --tls-cert F --tls-key F [--tls-client-ca F]\n"
    "                      [--dev] [--dev-root-token T] [--state FILE]\n"
    "                      [--admin-token T] [--request-log FILE] [--require-request-header]\n"
    "                      [--latency read_ms=N,read_jitter_ms=N,write_ms=N,write_jitter_ms=N,serialize_writes]\n";

void log_line(ps::LogLevel level, std::string_view message) {
  static const char* names[] = {"debug", "info", "warn", "error"};
  if (level == ps::LogLevel::debug) return;
  std::cerr << "vault-emulator: " << names[static_cast<int>(level)] << ": " << message << std::endl;
}

ps::Result<Args> parse_args(int argc, char** argv) {
  auto invalid = [](std::string why) {
    return ps::Status(ps::Code::invalid_argument, std::move(why));
  };
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    bool has_value = false;
    if (auto eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_value = true;
    }
    auto take = [&](std::string& out) {
      if (has_value) {
        out = value;
        return true;
      }
      if (i + 1 >= argc) return false;
      out = argv[++i];
      return true;
    };
    bool taken = true;
    if (arg == "--listen") {
      taken = take(a.listen);
    } else if (arg == "--tls-cert") {
      taken = take(a.cert);
    } else if (arg == "--tls-key") {
      taken = take(a.key);
    } else if (arg == "--tls-client-ca") {
      taken = take(a.client_ca);
    } else if (arg == "--dev") {
      a.dev = true;
    } else if (arg == "--dev-root-token") {
      taken = take(a.root_token);
    } else if (arg == "--state") {
      taken = take(a.state_file);
    } else if (arg == "--admin-token") {
      taken = take(a.admin_token);
    } else if (arg == "--request-log") {
      taken = take(a.request_log);
    } else if (arg == "--require-request-header") {
      a.require_request_header = true;
    } else if (arg == "--latency") {
      taken = take(a.latency);
    } else {
      return invalid("unknown argument " + arg);
    }
    if (!taken) return invalid(arg + " needs a value");
  }
  if (a.listen.empty() || a.cert.empty() || a.key.empty()) {
    return invalid("--listen, --tls-cert and --tls-key are required");
  }
  if (a.root_token.empty()) return invalid("--dev-root-token must not be empty");
  if (!a.latency.empty()) {
    auto model = ps::vault::emulator::latency_from_spec(a.latency);
    if (!model.ok()) return invalid("--latency: " + model.status().message());
  }
  return a;
}

bool split_listen(const std::string& listen, std::string* host, int* port) {
  std::string h, p;
  if (!listen.empty() && listen[0] == '[') {
    auto close = listen.find("]:");
    if (close == std::string::npos) return false;
    h = listen.substr(1, close - 1);
    p = listen.substr(close + 2);
  } else {
    auto colon = listen.rfind(':');
    if (colon == std::string::npos) return false;
    h = listen.substr(0, colon);
    p = listen.substr(colon + 1);
  }
  char* end = nullptr;
  long n = std::strtol(p.c_str(), &end, 10);
  if (p.empty() || *end != '\0' || n < 0 || n > 65535) return false;
  *host = h;
  *port = static_cast<int>(n);
  return true;
}

// Blocks SIGTERM, SIGINT and SIGHUP (taken synchronously by the main thread with sigwait;
// every thread started later inherits the mask) and ignores SIGPIPE.
sigset_t block_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return signals;
}

// The core's options from the command line and VAULT_DISABLE_USER_LOCKOUT.
Options emulator_options(const Args& args) {
  Options opts;
  opts.dev = args.dev;
  opts.root_token = args.root_token;
  opts.admin_token = args.admin_token;
  opts.require_request_header = args.require_request_header;
  if (!args.latency.empty()) opts.latency = *ps::vault::emulator::latency_from_spec(args.latency);
  if (const char* v = std::getenv("VAULT_DISABLE_USER_LOCKOUT"); v && std::string(v) == "true") {
    opts.user_lockout = false;
  }
  return opts;
}

// Loads --state when given and present; false (logged) when the file cannot be used.
bool load_state(Emulator& emu, const std::string& state_file) {
  if (state_file.empty()) return true;
  auto loaded = load_state_file(emu, state_file);
  if (!loaded.ok()) {
    log_line(ps::LogLevel::error, loaded.status().message());
    return false;
  }
  if (*loaded) log_line(ps::LogLevel::info, "state loaded from " + state_file);
  return true;
}

// Opens --request-log into *log when given; false (logged) when it cannot be opened.
bool open_request_log(ps::Clock& clock, const std::string& path, std::unique_ptr<RequestLog>* log) {
  if (path.empty()) return true;
  *log = std::make_unique<RequestLog>(clock);
  if (ps::Status opened = (*log)->open(path); !opened.ok()) {
    log_line(ps::LogLevel::error, opened.message());
    return false;
  }
  return true;
}

// Waits for SIGTERM or SIGINT, reloading the TLS files on every SIGHUP meanwhile.
void wait_for_stop(const sigset_t& signals, ps::tls::ServerTls& tls) {
  while (true) {
    int sig = 0;
    if (sigwait(&signals, &sig) != 0) continue;
    if (sig == SIGHUP) {
      if (ps::Status reloaded = tls.reload(); reloaded.ok()) {
        log_line(ps::LogLevel::info, "TLS material reloaded");
      } else {
        log_line(ps::LogLevel::error,
                 "TLS reload failed, keeping the old material: " + reloaded.message());
      }
      continue;
    }
    break;
  }
}

}  // namespace

int main(int argc, char** argv) {
  auto parsed = parse_args(argc, argv);
  if (!parsed.ok()) {
    std::cerr << "vault-emulator: " << parsed.status().message() << "\n" << kUsage;
    return 2;
  }
  const Args& args = *parsed;
  ServerOptions sopts;
  if (!split_listen(args.listen, &sopts.host, &sopts.port)) {
    std::cerr << "vault-emulator: --listen must be HOST:PORT\n" << kUsage;
    return 2;
  }
  const sigset_t signals = block_signals();

  ps::RealClock clock;
  Emulator emu(emulator_options(args), clock);
  if (!load_state(emu, args.state_file)) return 1;
  std::unique_ptr<RequestLog> request_log;
  if (!open_request_log(clock, args.request_log, &request_log)) return 1;

  ps::tls::ServerConfig tls_config{args.cert, args.key, args.client_ca};
  auto created = ps::tls::ServerTls::create(tls_config, log_line);
  if (!created.ok()) {
    log_line(ps::LogLevel::error, "TLS: " + created.status().message());
    return 1;
  }
  std::shared_ptr<ps::tls::ServerTls> tls = *created;
  ps::tls::SslCtxPtr ctx = tls->make_ssl_ctx();

  Server server(emu, ctx.get(), sopts, request_log.get(), log_line);
  if (ps::Status listening = server.listen(); !listening.ok()) {
    log_line(ps::LogLevel::error, listening.message());
    return 1;
  }
  StateSaver saver(emu, args.state_file, log_line);
  saver.start();
  server.start();

  std::string shown_host = sopts.host.find(':') != std::string::npos ? "[" + sopts.host + "]" : sopts.host;
  std::cout << "VAULT_ADDR=https://" << shown_host << ":" << server.port() << std::endl;

  wait_for_stop(signals, *tls);
  server.stop();
  bool saved = saver.stop();
  log_line(ps::LogLevel::info, saved ? "stopped" : "stopped; the final state save failed");
  return saved ? 0 : 1;
}
