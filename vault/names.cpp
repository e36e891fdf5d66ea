#include "vault/names.h"

#include <cstdio>

namespace ps::vault {
namespace {

bool is_word(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}
bool is_name_char(unsigned char c) { return is_word(c) || c == '-' || c == '.'; }
char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
std::string lowercase(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = lower(c);
  return out;
}

Error invalid(std::string message) {
  return Error::make(ErrorCode::invalid_argument, Action::give_up, std::move(message));
}

bool valid_segment(std::string_view seg, std::size_t max_len) {
  if (seg.empty() || seg.size() > max_len || seg == "." || seg == "..") return false;
  for (unsigned char c : seg) {
    if (!is_name_char(c)) return false;
  }
  return true;
}

constexpr std::string_view kPlaceholder = "{agent_id}";

}  // namespace

std::string preview(std::string_view untrusted) {
  constexpr std::size_t kMax = 48;
  std::string out;
  for (std::size_t i = 0; i < untrusted.size() && out.size() < kMax; ++i) {
    auto c = static_cast<unsigned char>(untrusted[i]);
    if (c >= 0x21 && c <= 0x7e && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  if (out.size() >= kMax || untrusted.size() > kMax) out += "...";
  return out;
}

Result<MountPath> MountPath::parse(std::string_view path) {
  if (!path.empty() && path.back() == '/') path.remove_suffix(1);
  if (path.empty()) return invalid("the AppRole mount path is empty");
  std::size_t segments = 0;
  std::string_view rest = path;
  while (true) {
    auto slash = rest.find('/');
    auto seg = rest.substr(0, slash);
    if (!valid_segment(seg, 128) || ++segments > 8) {
      return invalid("the AppRole mount path \"" + preview(path) +
                     "\" is not a path of [A-Za-z0-9_.-] segments relative to auth/");
    }
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  return MountPath(std::string(path));
}

Result<RoleName> RoleName::parse(std::string_view name) {
  if (name.empty()) return invalid("the role name is empty");
  if (name.size() > kMaxBytes) {
    return invalid("the role name is longer than Vault's maximum of 4096 bytes");
  }
  // \w(([\w-.]+)?\w)? : word characters at both ends, word, '-' or '.' in between.
  bool ok = is_word(static_cast<unsigned char>(name.front())) &&
            is_word(static_cast<unsigned char>(name.back()));
  for (unsigned char c : name) ok = ok && is_name_char(c);
  if (!ok) {
    return invalid("the role name \"" + preview(name) +
                   "\" does not fit Vault's rule \\w(([\\w-.]+)?\\w)? (ASCII letters, digits, "
                   "'_', and '-' or '.' only between them)");
  }
  return RoleName(lowercase(name));
}

Result<RoleNamer> RoleNamer::create(std::string_view name_template, std::string_view mount) {
  auto parsed_mount = MountPath::parse(mount);
  if (!parsed_mount) return parsed_mount.error();
  auto at = name_template.find(kPlaceholder);
  if (at == std::string_view::npos ||
      name_template.find(kPlaceholder, at + kPlaceholder.size()) != std::string_view::npos) {
    return invalid("roles.name_template must contain {agent_id} exactly once");
  }
  std::string_view prefix = name_template.substr(0, at);
  std::string_view suffix = name_template.substr(at + kPlaceholder.size());
  for (std::string_view part : {prefix, suffix}) {
    for (unsigned char c : part) {
      if (!is_name_char(c)) {
        return invalid("roles.name_template \"" + preview(name_template) +
                       "\" may hold only [A-Za-z0-9_.-] around {agent_id}");
      }
    }
  }
  // The template with a one-letter id must itself be a valid name; this catches templates
  // that begin or end with '-' or '.'.
  if (!RoleName::parse(std::string(prefix) + "a" + std::string(suffix))) {
    return invalid("roles.name_template \"" + preview(name_template) +
                   "\" cannot produce a valid role name (it must start and end with a letter, "
                   "digit or '_', or with {agent_id})");
  }
  return RoleNamer(std::string(name_template), lowercase(prefix), lowercase(suffix),
                   std::move(parsed_mount).value());
}

Result<RoleName> RoleNamer::role_for(std::string_view agent_id) const {
  if (agent_id.empty()) return invalid("the agent id is empty");
  if (agent_id.size() > RoleName::kMaxBytes) {
    return invalid("the agent id is longer than 4096 bytes");
  }
  for (unsigned char c : agent_id) {
    if (!is_name_char(c)) {
      return invalid("agent id \"" + preview(agent_id) +
                     "\" holds a character not allowed in a Vault role name");
    }
  }
  auto role = RoleName::parse(prefix_ + lowercase(agent_id) + suffix_);
  if (!role) {
    return invalid("agent id \"" + preview(agent_id) + "\" gives no valid role name: " +
                   role.error().message);
  }
  return role;
}

std::optional<std::string> RoleNamer::agent_id_for(const RoleName& role) const {
  const auto& name = role.str();
  if (name.size() <= prefix_.size() + suffix_.size()) return std::nullopt;
  if (name.compare(0, prefix_.size(), prefix_) != 0) return std::nullopt;
  if (name.compare(name.size() - suffix_.size(), suffix_.size(), suffix_) != 0) {
    return std::nullopt;
  }
  return name.substr(prefix_.size(), name.size() - prefix_.size() - suffix_.size());
}

std::string RoleNamer::role_path(const RoleName& role) const {
  return "auth/" + mount_.str() + "/role/" + role.str();
}

bool is_header_safe(std::string_view value) {
  if (value.empty() || value.size() > 8192) return false;
  for (unsigned char c : value) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

bool is_valid_namespace(std::string_view ns) {
  if (ns.empty()) return true;
  if (ns.back() == '/') ns.remove_suffix(1);
  if (ns.empty() || ns.size() > 1024) return false;
  while (true) {
    auto slash = ns.find('/');
    if (!valid_segment(ns.substr(0, slash), 256)) return false;
    if (slash == std::string_view::npos) return true;
    ns.remove_prefix(slash + 1);
  }
}

}  // namespace ps::vault
