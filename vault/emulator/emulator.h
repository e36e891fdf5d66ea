// The Vault emulator's core: a pure state machine from HTTP request to HTTP response.
//
// It knows nothing of sockets or TLS; the front end (server.h) parses HTTP/1.1 and calls
// dispatch(). Time comes from the injected ps::Clock, so token TTLs, expiry, secret-ID tidy and
// user lockout are testable without sleeping. All state lives in memory behind a
// reader/writer lock; snapshot()/restore() give the --state file its content.
//
// What it emulates (see vault/emulator/README.md for the list): `vault server -dev` with the
// AppRole auth method, the token store, sys/health|leader|seal-status, sys/policies/acl with
// ACL enforcement, sys/auth, sys/capabilities(-self), sys/leases/revoke-prefix, plus the admin
// (fault injection) API under /_emulator/ from docs/notes emulator-contract.
//
// Thread-safe: dispatch()/handle() may run concurrently from many connections.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/base/clock.h"
#include "engine/base/status.h"
#include "vault/emulator/latency.h"

namespace ps::vault::emulator {

struct Header {
  std::string name;
  std::string value;
};

struct HttpRequest {
  std::string method;       // as sent: GET, POST, PUT, DELETE, LIST, HEAD, PATCH, ...
  std::string path;         // the URL path as sent (still percent-encoded), e.g. /v1/sys/health
  std::string query;        // raw query string without '?'
  std::vector<Header> headers;
  std::string body;
  std::string remote_addr;  // client IP without port ("127.0.0.1")

  // First header with this name (case-insensitive), or nullptr.
  const std::string* header(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  std::vector<Header> headers;
  std::string body;

  const std::string* header(std::string_view name) const;
  void set_header(std::string name, std::string value);
};

// What the front end must do with a request.
struct Outcome {
  enum class Kind {
    respond,  // send `response`
    drop,     // close the connection without answering (injected fault)
    hang,     // wait `hang`, then call handle() and send its answer (injected fault)
    delay,    // the latency model: wait `hang` (through the CommitPipeline when `commit`),
              // then call handle() and send its answer
  };
  Kind kind = Kind::respond;
  HttpResponse response;
  std::chrono::milliseconds hang{0};
  bool commit = false;  // delay: a write that waits for a serialised (Raft-like) commit
};

struct Options {
  bool dev = false;                   // initialised, unsealed, root token, approle at auth/approle/
  std::string root_token = "root";    // --dev-root-token
  std::string admin_token;            // empty: the admin API answers 404
  bool require_request_header = false;  // 412 without X-Vault-Request (Agent listener)
  bool user_lockout = true;           // 5 bad secret IDs in 15 min lock a role_id for 15 min
  std::size_t max_request_size = 32u * 1024 * 1024;  // Vault's default max_request_size
  std::string version = "1.17.6";
  LatencySettings latency;            // --read-latency-ms etc.; POST /_emulator/latency
};

struct Stats {
  std::uint64_t requests = 0;  // /v1 requests answered (faults included, drops not)
  std::uint64_t dropped = 0;   // connections closed by a `drop` fault
  std::map<int, std::uint64_t> by_status;
  // Requests the front end has read (admin calls included), numbered from 1 in that order,
  // and the highest n such that requests 1..n are all settled: answered (or dropped) with
  // their request-log line written, or given up without one (connection lost mid-request).
  // Every request the server answered before a stats call has a number below that call's,
  // so once settled >= received - 1 (both read from that call) its log line is written.
  std::uint64_t received = 0;
  std::uint64_t settled = 0;
};

class Emulator {
 public:
  Emulator(Options options, Clock& clock);
  ~Emulator();
  Emulator(const Emulator&) = delete;
  Emulator& operator=(const Emulator&) = delete;

  // Applies a queued fault (for /v1 paths) or answers the request.
  Outcome dispatch(const HttpRequest& request);
  // Answers the request without consulting the fault queue (after a `hang`).
  HttpResponse handle(const HttpRequest& request);

  // The whole persistent state (mounts, roles, secret IDs, tokens, policies, seal state) as
  // JSON text. Contains secrets: the caller writes it with mode 0600.
  std::string snapshot() const;
  // Replaces the state with a snapshot. When it does not parse (invalid_argument, with the
  // reason), the state is unchanged.
  ps::Status restore(const std::string& snapshot_text);
  // Bumped by every request that may have changed persistent state (for debounced saving).
  std::uint64_t change_count() const;

  // Removes expired secret IDs and expired tokens, as Vault's periodic tidy does (about once a
  // minute in Vault; the executable calls this every 60 s, tests call it directly).
  void tidy();

  Stats stats() const;
  const Options& options() const;

  // The front end's bookkeeping behind Stats::received and Stats::settled: a request's number,
  // taken when its head has been read, and its settlement once its request-log line is written
  // (or it ended without one).
  std::uint64_t request_received();
  void request_settled(std::uint64_t number);

  struct Core;  // implementation (core.h)

 private:
  std::unique_ptr<Core> core_;
};

}  // namespace ps::vault::emulator
