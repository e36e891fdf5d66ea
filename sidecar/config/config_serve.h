// The configuration sections of the daemon (`policy-sidecar serve`): listener, webhook, api,
// log, audit, evaluate, health, shutdown. Keys, types and defaults are documented in README
// ("Configuration reference"); each section's parser refuses unknown keys and wrong types,
// naming the key path (`config: listener.max_request_bytes: must be ...`).
//
// Parsing checks each value on its own; what only matters to `serve` (a certificate for
// the listener, plain HTTP only on loopback) is checked by validate_serve_config(), so the
// other commands can share one config file without a listener in it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/base/status.h"
#include "sidecar/config/log.h"

namespace ps::sidecar {

struct Config;

struct ListenerConfig {
  std::string address = "127.0.0.1:8443";  // host:port; [v6]:port; port 0 = any (tests)
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;  // non-empty: clients must present a certificate from this CA
  bool tls_disable = false;   // plain HTTP; refused unless the address is loopback
  std::int64_t max_request_bytes = 65536;
  double read_timeout_s = 10;  // longest stall between bytes while a request is read or answered
  double idle_timeout_s = 30;  // an idle kept-alive connection is closed after this
  // Deadlines: TLS handshake + request head, from the connection's (or the next request's)
  // first byte; the whole request, head and body.
  double head_timeout_s = 10;
  double request_timeout_s = 30;
  // The request line and headers together (431 beyond), and the number of header fields.
  std::int64_t max_header_bytes = 16384;
  std::int64_t max_headers = 64;
  // Open connections in total and from one client address (more are closed at accept). Behind a
  // reverse proxy every connection comes from the proxy's address: raise the per-peer cap.
  std::int64_t max_connections = 512;
  std::int64_t max_connections_per_peer = 64;
};

struct WebhookConfig {
  std::string secrets_file;  // empty: the approval webhook is disabled (404)
  std::int64_t tolerance_s = 300;
  std::vector<std::string> reviewers;
  std::vector<std::string> admins;
  // Requests no configured secret signed (401, 404 disabled), per client address: a token
  // bucket refilled at unauthenticated_per_s (0: no limit) holding unauthenticated_burst;
  // when empty, 429 + Retry-After. At most tracked_peers addresses are remembered (the one
  // seen longest ago is forgotten first). One log line per address per rejection_log_interval_s
  // (with the count of those left out); never an audit record. Read at start.
  std::int64_t unauthenticated_per_s = 5;
  std::int64_t unauthenticated_burst = 20;
  std::int64_t tracked_peers = 10000;
  double rejection_log_interval_s = 60;
};

struct ApiConfig {
  std::string token_file;  // empty: the operator API is disabled (404)
  // /metrics wants the API's bearer token (Prometheus: authorization.credentials_file). The
  // series describe agents, tiers and revocations, and each scrape costs work: neither is for
  // anyone who can reach the port. false: unauthenticated, as before.
  bool metrics_auth = true;
};

struct LogConfig {
  LogLevel level = LogLevel::info;
  LogFormat format = LogFormat::json;
};

struct AuditConfig {
  std::string path;  // empty: <ledger dir>/policy-sidecar-audit.jsonl
};

struct EvaluateConfig {
  double interval_s = 60;  // 0 disables the periodic evaluation
  bool auto_promote = false;
};

struct HealthConfig {
  double outbox_stuck_s = 600;
};

// How long the sidecar keeps its own records (engine/ledger/retention.h says what each table
// keeps regardless). The daemon prunes every interval_s in batches of batch_rows rows, each
// batch its own short write.
struct RetentionConfig {
  double interval_s = 3600;  // 0: the daemon never prunes
  std::int64_t batch_rows = 500;
  std::int64_t drift_days = 30;
  std::int64_t sync_history_days = 30;
  std::int64_t sync_history_max_rows = 200000;
  // At least webhook.tolerance_s + sender_retry_horizon_s (refused otherwise): a sender's
  // redelivery of an id must still find the stored answer, never decide twice.
  std::int64_t webhook_deliveries_days = 30;
  std::int64_t sender_retry_horizon_s = 2 * 86400;
  std::int64_t denials_days = 365;
  std::int64_t demotions_days = 365;  // each agent's latest demotion is kept regardless
  std::int64_t revocation_steps_days = 90;  // done steps only
  std::int64_t outbox_days = 30;            // synced rows of agents gone from agent_metrics
};

struct ShutdownConfig {
  double grace_s = 10;
};

// Section parsers for the table in config.cpp. `path` is the section's key path.
using json_section = nlohmann::ordered_json;
Status parse_listener_section(const json_section& v, const std::string& path, Config& c);
Status parse_webhook_section(const json_section& v, const std::string& path, Config& c);
Status parse_api_section(const json_section& v, const std::string& path, Config& c);
Status parse_log_section(const json_section& v, const std::string& path, Config& c);
Status parse_audit_section(const json_section& v, const std::string& path, Config& c);
Status parse_evaluate_section(const json_section& v, const std::string& path, Config& c);
Status parse_health_section(const json_section& v, const std::string& path, Config& c);
Status parse_retention_section(const json_section& v, const std::string& path, Config& c);
// retention.webhook_deliveries_days against webhook.tolerance_s + retention.sender_retry_horizon_s.
Status validate_retention(const Config& c);
Status parse_shutdown_section(const json_section& v, const std::string& path, Config& c);

// host and port of listener.address; IPv6 without brackets.
struct HostPort {
  std::string host;
  int port = 0;
};
Result<HostPort> parse_host_port(const std::string& address);
// 127.0.0.0/8, ::1, "localhost".
bool is_loopback_host(const std::string& host);

// What `serve` needs beyond per-key validity: TLS files unless tls_disable, tls_disable only on
// a loopback address. invalid_argument naming the key.
Status validate_serve_config(const Config& config);

}  // namespace ps::sidecar
