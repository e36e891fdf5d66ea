// ACL policies as Vault parses and evaluates them (vault/policy.go, vault/acl.go).
//
// parse_policy() accepts the JSON form, the HCL form (the subset real policies use: `path
// "p" { capabilities = [...] ... }` blocks, comments, lists and maps), or base64 of either.
// Acl::build() merges policies the way NewACL does (the same pattern in several policies is
// merged, deny wins) and Acl::check() decides one request: exact rule first (a list also tries
// the path without its trailing slash), otherwise the longest-prefix glob competes with every
// matching `+` rule and exactly one winner applies.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/base/status.h"

namespace ps::vault::emulator {

enum class Operation { read, list, create, update, del, patch };

namespace cap {
inline constexpr std::uint32_t deny = 1u << 0;
inline constexpr std::uint32_t create = 1u << 1;
inline constexpr std::uint32_t read = 1u << 2;
inline constexpr std::uint32_t update = 1u << 3;
inline constexpr std::uint32_t del = 1u << 4;
inline constexpr std::uint32_t list = 1u << 5;
inline constexpr std::uint32_t sudo = 1u << 6;
inline constexpr std::uint32_t patch = 1u << 7;
inline constexpr std::uint32_t subscribe = 1u << 8;
}  // namespace cap

struct Permissions {
  std::uint32_t caps = 0;
  // parameter name (lowercase) -> list of allowed/denied values ([] = any value)
  std::map<std::string, nlohmann::json> allowed_parameters;
  std::map<std::string, nlohmann::json> denied_parameters;
  std::vector<std::string> required_parameters;
};

struct PathRule {
  std::string path;  // leading '/' stripped; for a plain glob the trailing '*' is stripped too
  bool is_prefix = false;
  bool has_segment_wildcards = false;
  Permissions perms;
};

struct Policy {
  std::string name;
  std::string raw;  // the text as stored (what GET returns)
  std::vector<PathRule> paths;
};

// Parses `text` (JSON, HCL, or base64 of either). The error is invalid_argument with Vault's
// message ("failed to parse policy: ..."), which the API answers with.
ps::Result<Policy> parse_policy(const std::string& name, const std::string& text);

// Converts the HCL subset to the JSON value Vault's HCL decoder would see. Blocks become arrays
// of single-key objects under their keyword ({"path":[{"p":{...}}, ...]}). The error is
// invalid_argument: "<what> at line N".
ps::Result<nlohmann::json> parse_hcl(const std::string& text);

// The built-in `default` policy text (policy_store.go defaultPolicy).
const std::string& default_policy_text();

struct AclDecision {
  bool allowed = false;
  bool sudo = false;  // the winning rule grants sudo (needed on root-protected paths)
};

class Acl {
 public:
  // `policies` may contain nullptr for names that no longer exist (skipped, as in Vault).
  // A policy list containing "root" makes a root ACL (everything allowed).
  static std::shared_ptr<const Acl> build(const std::vector<const Policy*>& policies, bool root);

  // `data` is the request data (object or null) for parameter constraints.
  AclDecision check(Operation op, const std::string& path, const nlohmann::json& data) const;
  // sys/capabilities: capability names on `path`, ["root"] for root, ["deny"] when none.
  std::vector<std::string> capabilities(const std::string& path) const;
  bool root() const { return root_; }

 private:
  const Permissions* find(const std::string& path, bool list_op) const;
  const Permissions* from_non_exact(const std::string& path) const;

  bool root_ = false;
  std::map<std::string, Permissions> exact_;
  std::map<std::string, Permissions> prefix_;
  std::map<std::string, Permissions> segment_;  // key: full pattern, '*' kept
};

}  // namespace ps::vault::emulator
