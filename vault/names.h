// Validated names that go into Vault request paths: the AppRole mount and role names.
//
// A request path is built only from these types (see VaultClient), so no caller-provided
// string can add a path segment, a query, a fragment or an escape: a value that does not
// match Vault's own rule is refused before any request, never escaped and hoped for.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "vault/error.h"

namespace ps::vault {

// An auth mount path relative to `auth/`, e.g. "approle" or "agents/approle" (one trailing
// slash is accepted and dropped). Segments are 1-128 characters of [A-Za-z0-9_.-], not "." or
// "..", at most 8 segments.
class MountPath {
 public:
  static Result<MountPath> parse(std::string_view path);
  const std::string& str() const { return path_; }
  friend bool operator==(const MountPath&, const MountPath&) = default;

 private:
  explicit MountPath(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// An AppRole role name that fits Vault's rule `\w(([\w-.]+)?\w)?` (ASCII \w = [A-Za-z0-9_]),
// anchored at both ends, at most 4096 bytes. Stored lowercased: AppRole keys roles by the
// lowercase name while ACL paths match case-sensitively, so the sidecar always addresses the
// lowercase form (which `agent-*` policies match).
class RoleName {
 public:
  static constexpr std::size_t kMaxBytes = 4096;
  static Result<RoleName> parse(std::string_view name);
  const std::string& str() const { return name_; }
  friend bool operator==(const RoleName&, const RoleName&) = default;
  friend auto operator<=>(const RoleName&, const RoleName&) = default;

 private:
  explicit RoleName(std::string name) : name_(std::move(name)) {}
  std::string name_;
};

// Maps agent ids to role names through a template holding `{agent_id}` exactly once
// (default "agent-{agent_id}"). Thread-safe (immutable).
class RoleNamer {
 public:
  static constexpr std::string_view kDefaultTemplate = "agent-{agent_id}";

  // Fails (invalid_argument) when the template or the mount is unusable.
  static Result<RoleNamer> create(std::string_view name_template, std::string_view mount);

  // The role for `agent_id`: template applied, lowercased, checked against RoleName's rule.
  // An empty id, or one with any byte outside [A-Za-z0-9_.-] (slashes, %, ?, #, spaces,
  // control bytes, non-ASCII), or a result over 4096 bytes, gives invalid_argument; the
  // message shows at most a short, escaped preview of the id.
  Result<RoleName> role_for(std::string_view agent_id) const;

  // The lowercased agent id a role name was made from, or nullopt when the role does not fit
  // the template (for spotting roles that belong to no agent).
  std::optional<std::string> agent_id_for(const RoleName& role) const;

  // "auth/<mount>/role/<role>" for reports (no leading /v1/).
  std::string role_path(const RoleName& role) const;
  const MountPath& mount() const { return mount_; }
  const std::string& name_template() const { return template_; }

 private:
  RoleNamer(std::string name_template, std::string prefix, std::string suffix, MountPath mount)
      : template_(std::move(name_template)),
        prefix_(std::move(prefix)),
        suffix_(std::move(suffix)),
        mount_(std::move(mount)) {}

  std::string template_;
  std::string prefix_;  // lowercased text before {agent_id}
  std::string suffix_;  // lowercased text after {agent_id}
  MountPath mount_;
};

// True for a value that can go into an HTTP header unchanged: 1-8192 visible ASCII bytes
// (0x21-0x7e). Vault's Go client likewise refuses tokens with non-printable characters.
bool is_header_safe(std::string_view value);

// A Vault Enterprise namespace path ("ns1", "ns1/ns2/"): segments of [A-Za-z0-9_.-]. Empty
// (no namespace) is valid.
bool is_valid_namespace(std::string_view ns);

// A short, printable rendering of untrusted text for error messages: at most 48 bytes, bytes
// outside visible ASCII shown as \xNN.
std::string preview(std::string_view untrusted);

}  // namespace ps::vault
