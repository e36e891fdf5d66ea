// Internal to the emulator core: request context, backend responses (VaultResponse, before
// they become HTTP), routing tables and the Core object whose member functions implement the
// backends (approle.cpp, approle_secret_id.cpp, token_store.cpp, sys.cpp), the admin API
// (admin.cpp), the request pipeline (core.cpp) and construction (emulator.cpp).
#pragma once

#include <atomic>
#include <deque>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/base/mutex.h"
#include "vault/emulator/acl.h"
#include "vault/emulator/emulator.h"
#include "vault/emulator/state.h"
#include "vault/emulator/util.h"

namespace ps::vault::emulator {

using json = nlohmann::json;

// framework.FieldType, reduced to what the emulated endpoints declare.
enum class FieldType { string, boolean, integer, duration, comma_slice, kv_map };

struct FieldSpec {
  std::string_view name;
  FieldType type;
};

// framework.FieldData: the request data validated against a route's schema. Only fields that
// were present are stored (GetOk semantics); converted values are normalised (durations and
// ints to int64 seconds, comma slices to arrays of trimmed strings).
class Fields {
 public:
  // The fields of `data` that `specs` declares, converted. The error (invalid_argument) has
  // Vault's "Field validation failed: ..." message for the first bad field.
  static ps::Result<Fields> parse(const json& data, const std::vector<FieldSpec>& specs);
  bool has(std::string_view name) const;
  std::string str(std::string_view name, const std::string& def = "") const;
  bool boolean(std::string_view name, bool def = false) const;
  std::int64_t integer(std::string_view name, std::int64_t def = 0) const;
  std::vector<std::string> slice(std::string_view name) const;
  std::map<std::string, std::string> kv(std::string_view name) const;

 private:
  json values_ = json::object();
};

// A backend's answer before it becomes HTTP (logical.Response plus error).
struct VaultResponse {
  enum class Kind {
    nil,             // no response: 204 for writes, 404 {"errors":[]} for reads and lists
    response,        // 200 envelope (or `status` when set, e.g. 202)
    error_response,  // logical.ErrorResponse: bare message, 400 unless `status` says otherwise
    error,           // a Go error: go-multierror text, `status` (500 unless mapped)
  };
  Kind kind = Kind::nil;
  json data;  // null when absent
  json auth;  // null when absent
  std::vector<std::string> warnings;
  bool list = false;  // a list response: empty keys answer 404
  int status = 0;
  std::vector<std::string> messages;

  static VaultResponse nil() { return {}; }
  static VaultResponse ok(json data);
  static VaultResponse keys(std::vector<std::string> keys);
  static VaultResponse bad(std::string message, int status = 400);
  static VaultResponse error(int status, std::string message);
  static VaultResponse error(int status, std::vector<std::string> messages);
};

struct Call {
  const HttpRequest& http;
  Operation op = Operation::read;
  std::string path;              // Vault path without "/v1/"
  json data = json::object();    // request data
  Fields fields;
  Token* token = nullptr;        // the caller's token; null on unauthenticated paths
  bool is_root = false;          // the caller's token has the root policy
  bool sudo = false;             // root, or the winning ACL rule grants sudo
  std::vector<std::string> args; // path captures (mount, role name, ...)
  bool exclusive = false;        // holding the writer lock
  bool revoke_caller_after = false;  // the token's last use
};

using Handler = VaultResponse (Emulator::Core::*)(Call&);
using ExistenceCheck = bool (Emulator::Core::*)(Call&);

struct Route {
  std::vector<FieldSpec> fields;
  Handler read = nullptr;
  Handler list = nullptr;
  Handler write = nullptr;  // create and update
  Handler del = nullptr;
  ExistenceCheck exists = nullptr;
  bool unauthenticated = false;
  const char* mount_type = "";
};

struct Match {
  enum class Kind { route, unsupported_path, no_handler };
  Kind kind = Kind::no_handler;
  const Route* route = nullptr;
  std::vector<std::string> args;
};

struct Fault {
  std::string kind;  // status | hang | drop
  std::int64_t count = 1;
  std::string match;   // path prefix ("/v1/..." or Vault path "auth/..."); empty = any
  std::string method;  // empty = any
  int status = 503;
  std::optional<std::vector<std::string>> errors;
  std::optional<std::int64_t> retry_after;
  std::int64_t hang_ms = 5000;
};

struct Emulator::Core {
  Core(Options opts, Clock& clk);

  Options options;
  Clock& clock;

  mutable ps::SharedMutex mu;
  State state GUARDED_BY(mu);
  std::atomic<std::uint64_t> changes{0};

  mutable ps::Mutex acl_mu;
  mutable std::unordered_map<std::string, std::shared_ptr<const Acl>> acl_cache GUARDED_BY(acl_mu);

  mutable ps::Mutex admin_mu;
  std::deque<Fault> faults GUARDED_BY(admin_mu);
  std::string standby_mode GUARDED_BY(admin_mu) = "off";  // off | redirect | no_leader
  std::string leader_address GUARDED_BY(admin_mu);
  bool rate_limit_headers GUARDED_BY(admin_mu) = false;
  LatencySettings latency GUARDED_BY(admin_mu);
  std::mt19937_64 latency_rng GUARDED_BY(admin_mu){42};
  Stats stats GUARDED_BY(admin_mu);  // (settled: computed on read)
  std::set<std::uint64_t> unsettled GUARDED_BY(admin_mu);  // received, not yet settled
  Stats stats_now() const REQUIRES(admin_mu);

  // --- construction (emulator.cpp) and pipeline (core.cpp)
  void init_dev() REQUIRES(mu);
  Outcome dispatch(const HttpRequest& req);
  std::optional<Outcome> latency_outcome(const std::string& method, const std::string& vpath)
      REQUIRES(admin_mu);
  HttpResponse handle(const HttpRequest& req);
  HttpResponse handle_v1(const HttpRequest& req);
  std::optional<HttpResponse> handle_logical(const HttpRequest& req, const std::string& vpath,
                                             bool exclusive) REQUIRES_SHARED(mu);
  HttpResponse to_http(const Call& call, const Route* route, VaultResponse result);
  void count(int status);
  std::shared_ptr<const Acl> acl_for(const std::vector<std::string>& policies) const
      REQUIRES_SHARED(mu);
  void policies_changed();
  WallTime now() const { return clock.wall_now(); }

  // Token store helpers (token_store.cpp)
  Token* find_token(const std::string& id) REQUIRES_SHARED(mu);
  bool token_valid(const Token& t) const REQUIRES_SHARED(mu);
  void revoke_token_tree(const std::string& id) REQUIRES_SHARED(mu);
  Token& store_token(Token t) REQUIRES_SHARED(mu);
  json token_lookup_data(const Token& t) const REQUIRES_SHARED(mu);
  json auth_block(const Token& t, const std::vector<std::string>& token_policies) const REQUIRES_SHARED(mu);
  std::string new_token_id(const std::string& type) const;

  // --- routing
  Match route(const std::string& vpath) REQUIRES_SHARED(mu);
  Match route_approle(const std::string& mount, const std::string& rest);
  Match route_token(const std::string& rest);
  Match route_sys(const std::string& rest);
  static bool root_protected(const std::string& acl_path);

  // --- sys special handlers (sys.cpp): answered without a token, also when sealed
  HttpResponse sys_health(const HttpRequest& req, const std::string& method);
  HttpResponse sys_leader(const HttpRequest& req);
  HttpResponse sys_seal_status(const HttpRequest& req);
  HttpResponse sys_init(const HttpRequest& req);

  // --- admin (admin.cpp)
  HttpResponse handle_admin(const HttpRequest& req);

  // --- AppRole (approle.cpp)
  Mount* mount_of(Call& c) REQUIRES_SHARED(mu);
  Role* role_of(Call& c) REQUIRES_SHARED(mu);
  bool role_exists(Call& c) REQUIRES_SHARED(mu);
  VaultResponse role_list(Call& c) REQUIRES_SHARED(mu);
  VaultResponse role_read(Call& c) REQUIRES_SHARED(mu);
  VaultResponse role_write(Call& c) REQUIRES_SHARED(mu);
  VaultResponse role_delete(Call& c) REQUIRES_SHARED(mu);
  VaultResponse role_field_read(Call& c) REQUIRES_SHARED(mu);
  VaultResponse role_field_write(Call& c) REQUIRES_SHARED(mu);
  VaultResponse role_field_delete(Call& c) REQUIRES_SHARED(mu);
  VaultResponse role_id_read(Call& c) REQUIRES_SHARED(mu);
  VaultResponse role_id_write(Call& c) REQUIRES_SHARED(mu);
  VaultResponse secret_id_create(Call& c) REQUIRES_SHARED(mu);
  VaultResponse secret_id_list(Call& c) REQUIRES_SHARED(mu);
  VaultResponse secret_id_lookup(Call& c) REQUIRES_SHARED(mu);
  VaultResponse secret_id_destroy(Call& c) REQUIRES_SHARED(mu);
  VaultResponse secret_id_accessor_lookup(Call& c) REQUIRES_SHARED(mu);
  VaultResponse secret_id_accessor_destroy(Call& c) REQUIRES_SHARED(mu);
  VaultResponse approle_login(Call& c) REQUIRES_SHARED(mu);
  VaultResponse approle_tidy(Call& c) REQUIRES_SHARED(mu);
  VaultResponse set_role(Mount& m, Role& updated, const std::string& previous_role_id) REQUIRES_SHARED(mu);
  void tidy_secret_ids() REQUIRES_SHARED(mu);

  // --- token store (token_store.cpp)
  VaultResponse token_create(Call& c) REQUIRES_SHARED(mu);
  VaultResponse token_create_orphan(Call& c) REQUIRES_SHARED(mu);
  VaultResponse token_lookup(Call& c) REQUIRES_SHARED(mu);
  VaultResponse token_lookup_self(Call& c) REQUIRES_SHARED(mu);
  VaultResponse token_lookup_accessor(Call& c) REQUIRES_SHARED(mu);
  VaultResponse token_renew(Call& c) REQUIRES_SHARED(mu);
  VaultResponse token_renew_self(Call& c) REQUIRES_SHARED(mu);
  VaultResponse token_renew_accessor(Call& c) REQUIRES_SHARED(mu);
  VaultResponse token_revoke(Call& c) REQUIRES_SHARED(mu);
  VaultResponse token_revoke_self(Call& c) REQUIRES_SHARED(mu);
  VaultResponse token_revoke_accessor(Call& c) REQUIRES_SHARED(mu);
  VaultResponse token_accessors(Call& c) REQUIRES_SHARED(mu);
  VaultResponse renew(Call& c, Token& t) REQUIRES_SHARED(mu);
  VaultResponse create_token(Call& c, bool orphan_path) REQUIRES_SHARED(mu);

  // --- sys (sys.cpp)
  VaultResponse policy_list(Call& c) REQUIRES_SHARED(mu);
  VaultResponse policy_read(Call& c) REQUIRES_SHARED(mu);
  VaultResponse policy_write(Call& c) REQUIRES_SHARED(mu);
  VaultResponse policy_delete(Call& c) REQUIRES_SHARED(mu);
  VaultResponse auth_list(Call& c) REQUIRES_SHARED(mu);
  VaultResponse auth_enable(Call& c) REQUIRES_SHARED(mu);
  VaultResponse auth_disable(Call& c) REQUIRES_SHARED(mu);
  VaultResponse auth_tune_read(Call& c) REQUIRES_SHARED(mu);
  VaultResponse auth_tune_write(Call& c) REQUIRES_SHARED(mu);
  VaultResponse capabilities(Call& c) REQUIRES_SHARED(mu);
  VaultResponse capabilities_self(Call& c) REQUIRES_SHARED(mu);
  VaultResponse revoke_prefix(Call& c) REQUIRES_SHARED(mu);
};

// framework.CalculateTTL: the TTL to grant at issue or renewal, with Vault's warnings. The error
// (failed_precondition, Vault's message) when the token is already past its max TTL.
// `sys_default`/`sys_max` are the mount's system view (sys/auth/<path>/tune, else the system
// values); a role's max TTL only lowers the ceiling.
struct TtlGrant {
  std::int64_t ttl = 0;
  std::vector<std::string> warnings;
};
ps::Result<TtlGrant> calculate_ttl(WallTime now, std::int64_t increment, std::int64_t backend_ttl,
                                   std::int64_t period, std::int64_t backend_max_ttl,
                                   std::int64_t explicit_max_ttl, WallTime start,
                                   std::int64_t sys_default = kMountDefaultTtl,
                                   std::int64_t sys_max = kMountMaxTtl);
// The mount's effective TTLs (tuned, else the system values).
std::int64_t mount_default_ttl(const Mount& m);
std::int64_t mount_max_ttl(const Mount& m);
// framework's humanDuration: "768h", "1h30m", "45s".
std::string human_duration(std::int64_t seconds);

// AppRole helpers shared by approle.cpp and approle_fields.cpp.
// parseutil.ParseAddrs: invalid_argument with Vault's text for the first entry that is no
// address or CIDR.
ps::Status check_addrs(const std::vector<std::string>& addrs);
bool all_valid_cidrs(const std::vector<std::string>& cidrs);
// A copy of the role's settings; the (possibly large) secret-ID maps stay behind.
Role copy_role_settings(Role& role);

// Adds the built-in `default` policy when the state has none.
void ensure_default_policy(State& s);

// {"errors": [...]} with Content-Type: application/json.
HttpResponse error_response(int status, const std::vector<std::string>& errors);
HttpResponse json_response(int status, const json& body);
// The reason phrase for a status line ("Unknown" for codes Go has no text for).
const char* status_text(int status);

}  // namespace ps::vault::emulator
