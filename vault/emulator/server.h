// The emulator's HTTP/1.1 server over OpenSSL: a thread per connection, keep-alive,
// Content-Length and chunked request bodies, a request size limit (413), a head size limit
// (431), an idle timeout, and the injected faults the core asks for (drop the connection
// without an answer; hang, then answer unless the client gave up).
//
// TLS comes from ps::tls::ServerTls::make_ssl_ctx(), so certificate reloads reach new
// handshakes. Every request goes to Emulator::dispatch(); every answer (or drop) is written to
// the RequestLog when one is given.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include <openssl/ssl.h>

#include "engine/base/mutex.h"
#include "engine/base/status.h"
#include "tls/tls.h"
#include "vault/emulator/emulator.h"
#include "vault/emulator/latency.h"
#include "vault/emulator/request_log.h"

namespace ps::vault::emulator {

struct ServerOptions {
  std::string host = "127.0.0.1";  // numeric IPv4 or IPv6 address
  int port = 0;                    // 0: the kernel picks one (see port())
  std::chrono::milliseconds idle_timeout{300000};      // between requests (Vault: 5 min)
  std::chrono::milliseconds handshake_timeout{10000};
  std::chrono::milliseconds io_timeout{30000};         // inside a request / while writing
  std::size_t max_head_bytes = 64 * 1024;
};

class Server {
 public:
  // `ctx` and `log` (may be null) must outlive the server.
  Server(Emulator& emulator, SSL_CTX* ctx, ServerOptions options, RequestLog* log, LogFn errors);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens. The error says why the address cannot be used (invalid_argument for
  // a host that is no numeric address, else the errno-derived code).
  ps::Status listen();
  int port() const { return port_; }
  // Starts accepting connections on a background thread.
  void start();
  // Stops accepting, closes every open connection and waits for their threads. Idempotent.
  void stop();

 private:
  void accept_loop();
  void serve(int fd, std::string peer);

  Emulator& emu_;
  SSL_CTX* ctx_;
  ServerOptions options_;
  RequestLog* log_;
  LogFn errors_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;

  ps::Mutex mu_;
  ps::CondVar idle_;
  std::set<int> open_fds_ GUARDED_BY(mu_);
  int active_ GUARDED_BY(mu_) = 0;  // connection threads still running
  // Writes waiting for a serialised commit (the latency model's serialize_writes).
  CommitPipeline commits_{[](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); }};
};

}  // namespace ps::vault::emulator
