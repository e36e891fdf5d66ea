#include "vault/emulator/acl.h"

#include <algorithm>

#include <openssl/evp.h>

#include "vault/emulator/util.h"

namespace ps::vault::emulator {
namespace {

using nlohmann::json;

std::optional<std::string> base64_decode(const std::string& in) {
  std::string clean;
  for (char c : in) {
    if (c != '\n' && c != '\r' && c != ' ') clean.push_back(c);
  }
  if (clean.empty() || clean.size() % 4 != 0) return std::nullopt;
  std::string out(clean.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(clean.data()),
                          static_cast<int>(clean.size()));
  if (n < 0) return std::nullopt;
  std::size_t pad = 0;
  if (clean.back() == '=') ++pad;
  if (clean.size() > 1 && clean[clean.size() - 2] == '=') ++pad;
  out.resize(static_cast<std::size_t>(n) - pad);
  return out;
}

std::optional<std::uint32_t> capability_bit(const std::string& c) {
  if (c == "deny") return cap::deny;
  if (c == "create") return cap::create;
  if (c == "read") return cap::read;
  if (c == "update") return cap::update;
  if (c == "delete") return cap::del;
  if (c == "list") return cap::list;
  if (c == "sudo") return cap::sudo;
  if (c == "patch") return cap::patch;
  if (c == "subscribe") return cap::subscribe;
  return std::nullopt;
}

// Values in allowed/denied_parameters are lists; a scalar becomes a one-element list.
bool parse_parameter_map(const json& v, std::map<std::string, json>* out) {
  if (!v.is_object()) {
    if (v.is_array()) {  // HCL's list-of-objects form
      for (const auto& item : v) {
        if (!parse_parameter_map(item, out)) return false;
      }
      return true;
    }
    return false;
  }
  for (const auto& [k, val] : v.items()) {
    json list = val.is_array() ? val : json::array({val});
    (*out)[to_lower(k)] = list;
  }
  return true;
}

Status bad_rule(const std::string& pattern, const std::string& what) {
  return Status(Code::invalid_argument, "path " + safe_dump(json(pattern)) + ": " + what);
}

Status check_keys(const std::string& pattern, const json& body) {
  if (!body.is_object()) return bad_rule(pattern, "invalid body");
  static const char* kKnown[] = {"comment", "policy", "capabilities", "allowed_parameters",
                                 "denied_parameters", "required_parameters", "min_wrapping_ttl",
                                 "max_wrapping_ttl", "mfa_methods", "control_group",
                                 "subscribe_event_types", "pagination_limit"};
  for (const auto& [k, v] : body.items()) {
    (void)v;
    if (std::find(std::begin(kKnown), std::end(kKnown), k) == std::end(kKnown)) {
      return bad_rule(pattern, "invalid key " + safe_dump(json(k)));
    }
  }
  return Status::success();
}

// The capabilities of the legacy `policy = "..."` form (0 when absent).
Result<std::uint32_t> legacy_caps(const std::string& pattern, const json& body) {
  auto it = body.find("policy");
  if (it == body.end() || !it->is_string()) return 0u;
  const std::string legacy = it->get<std::string>();
  if (legacy == "deny") return cap::deny;
  if (legacy == "read") return cap::read | cap::list;
  if (legacy == "write") return cap::create | cap::read | cap::update | cap::del | cap::list;
  if (legacy == "sudo") {
    return cap::create | cap::read | cap::update | cap::del | cap::list | cap::sudo;
  }
  if (legacy.empty()) return 0u;
  return bad_rule(pattern, "invalid policy " + safe_dump(json(legacy)));
}

// `caps` plus the `capabilities` list; a deny ends the list.
Result<std::uint32_t> add_capabilities(const std::string& pattern, const json& body,
                                       std::uint32_t caps) {
  auto it = body.find("capabilities");
  if (it == body.end()) return caps;
  json list = it->is_array() ? *it : json::array({*it});
  for (const auto& c : list) {
    std::optional<std::uint32_t> bit;
    if (c.is_string()) bit = capability_bit(c.get<std::string>());
    if (!bit) return bad_rule(pattern, "invalid capability " + safe_dump(c));
    if (*bit == cap::deny) return cap::deny;
    caps |= *bit;
  }
  return caps;
}

Status add_parameters(const std::string& pattern, const json& body, Permissions* perms) {
  if (auto it = body.find("allowed_parameters");
      it != body.end() && !parse_parameter_map(*it, &perms->allowed_parameters)) {
    return bad_rule(pattern, "invalid allowed_parameters");
  }
  if (auto it = body.find("denied_parameters");
      it != body.end() && !parse_parameter_map(*it, &perms->denied_parameters)) {
    return bad_rule(pattern, "invalid denied_parameters");
  }
  if (auto it = body.find("required_parameters"); it != body.end()) {
    json list = it->is_array() ? *it : json::array({*it});
    for (const auto& p : list) {
      if (p.is_string()) perms->required_parameters.push_back(p.get<std::string>());
    }
  }
  return Status::success();
}

Result<PathRule> parse_path_rule(const std::string& pattern, const json& body) {
  if (Status keys = check_keys(pattern, body); !keys.ok()) return keys;
  PathRule rule;
  std::string path = pattern;
  while (!path.empty() && path[0] == '/') path.erase(0, 1);
  if (path.find("+*") != std::string::npos) {
    return bad_rule(path, "invalid use of wildcards ('+*' is forbidden)");
  }
  rule.has_segment_wildcards =
      path == "+" || path.find("/+") != std::string::npos || starts_with(path, "+/");
  if (ends_with(path, "*") && !rule.has_segment_wildcards) {
    path.pop_back();
    rule.is_prefix = true;
  }
  rule.path = path;
  auto legacy = legacy_caps(pattern, body);
  if (!legacy.ok()) return legacy.status();
  auto caps = add_capabilities(pattern, body, *legacy);
  if (!caps.ok()) return caps.status();
  rule.perms.caps = (*caps & cap::deny) ? cap::deny : *caps;
  if (rule.perms.caps == cap::deny) return rule;
  if (Status params = add_parameters(pattern, body, &rule.perms); !params.ok()) return params;
  return rule;
}

// "path" may be an object {"p": {...}} or HCL's list of single-key objects.
Status collect_paths(const json& v, std::vector<PathRule>* out) {
  if (v.is_array()) {
    for (const auto& item : v) {
      if (Status s = collect_paths(item, out); !s.ok()) return s;
    }
    return Status::success();
  }
  if (!v.is_object()) return Status(Code::invalid_argument, "'path' must be an object");
  auto add = [&](const std::string& pattern, const json& body) {
    auto rule = parse_path_rule(pattern, body);
    if (rule.ok()) out->push_back(std::move(*rule));
    return rule.status();
  };
  for (const auto& [pattern, body] : v.items()) {
    if (!body.is_array()) {
      if (Status s = add(pattern, body); !s.ok()) return s;
      continue;
    }
    for (const auto& b : body) {  // the same pattern given twice in HCL JSON form
      if (Status s = add(pattern, b); !s.ok()) return s;
    }
  }
  return Status::success();
}

Result<json> parse_document(const std::string& text) {
  std::string t = trim(text);
  if (!t.empty() && t[0] == '{') {
    json doc = json::parse(t, nullptr, /*allow_exceptions=*/false);
    if (!doc.is_discarded()) return doc;
    // HCL can also start with '{'? Not in policies; fall through to HCL for the message.
  }
  return parse_hcl(text);
}

}  // namespace

Result<Policy> parse_policy(const std::string& name, const std::string& text) {
  auto failed = [](const std::string& why) {
    return Status(Code::invalid_argument, "failed to parse policy: " + why);
  };
  std::string doc_text = text;
  if (auto decoded = base64_decode(trim(text))) {
    // Vault tries base64 first and keeps the decoded text only when it decodes cleanly.
    doc_text = *decoded;
  }
  auto doc = parse_document(doc_text);
  if (!doc.ok()) return failed(doc.status().message());
  if (!doc->is_object()) return failed("policy must be an object");
  Policy policy;
  policy.name = name;
  policy.raw = text;
  for (const auto& [k, v] : doc->items()) {
    if (k == "name") continue;
    if (k != "path") return failed("invalid key " + safe_dump(json(k)));
    if (Status s = collect_paths(v, &policy.paths); !s.ok()) return failed(s.message());
  }
  return policy;
}

namespace {

void merge_params(std::map<std::string, json>& into, const std::map<std::string, json>& from) {
  for (const auto& [k, v] : from) {
    auto it = into.find(k);
    if (v.empty() || (it != into.end() && it->second.empty())) {
      into[k] = json::array();
    } else if (it == into.end()) {
      into[k] = v;
    } else {
      json merged = v;
      for (const auto& e : it->second) merged.push_back(e);
      it->second = merged;
    }
  }
}

void merge_into(std::map<std::string, Permissions>& tree, const PathRule& rule,
                const std::string& key) {
  auto it = tree.find(key);
  if (it == tree.end()) {
    tree.emplace(key, rule.perms);
    return;
  }
  Permissions& existing = it->second;
  if (existing.caps & cap::deny) return;
  if (rule.perms.caps & cap::deny) {
    existing.caps = cap::deny;
    existing.allowed_parameters.clear();
    existing.denied_parameters.clear();
    return;
  }
  existing.caps |= rule.perms.caps;
  merge_params(existing.allowed_parameters, rule.perms.allowed_parameters);
  merge_params(existing.denied_parameters, rule.perms.denied_parameters);
  for (const auto& r : rule.perms.required_parameters) {
    if (std::find(existing.required_parameters.begin(), existing.required_parameters.end(), r) ==
        existing.required_parameters.end()) {
      existing.required_parameters.push_back(r);
    }
  }
}

// strutil.GlobbedStringsMatch
bool globbed_match(const std::string& item, const std::string& val) {
  std::size_t stars = std::count(item.begin(), item.end(), '*');
  if (stars == 0) return item == val;
  if (item == "*") return true;
  bool lead = item.front() == '*', tail = item.back() == '*';
  if (stars == 2 && lead && tail) {
    return val.find(item.substr(1, item.size() - 2)) != std::string::npos;
  }
  if (stars == 1 && lead) return ends_with(val, item.substr(1));
  if (stars == 1 && tail) return starts_with(val, item.substr(0, item.size() - 1));
  return item == val;
}

bool value_in_list(const json& v, const json& list) {
  if (list.empty()) return true;
  for (const auto& el : list) {
    if (el.is_null() || v.is_null()) {
      if (el.is_null() && v.is_null()) return true;
    } else if (el.is_string() && v.is_string()) {
      if (globbed_match(el.get<std::string>(), v.get<std::string>())) return true;
    } else if (el == v) {
      return true;
    }
  }
  return false;
}

}  // namespace

std::shared_ptr<const Acl> Acl::build(const std::vector<const Policy*>& policies, bool root) {
  auto acl = std::make_shared<Acl>();
  acl->root_ = root;
  if (root) return acl;
  for (const Policy* p : policies) {
    if (p == nullptr) continue;
    for (const auto& rule : p->paths) {
      if (rule.has_segment_wildcards) {
        merge_into(acl->segment_, rule, rule.path);
      } else if (rule.is_prefix) {
        merge_into(acl->prefix_, rule, rule.path);
      } else {
        merge_into(acl->exact_, rule, rule.path);
      }
    }
  }
  return acl;
}

const Permissions* Acl::from_non_exact(const std::string& path) const {
  struct Candidate {
    std::size_t first_wc;
    int wildcards = 0;
    bool is_prefix;
    std::string wc_path;
    const Permissions* perms;
  };
  std::vector<Candidate> candidates;
  // Longest prefix: the map is sorted, so walk the prefixes of `path` from the longest down.
  const Permissions* best_prefix = nullptr;
  std::string best_key;
  for (std::size_t len = path.size() + 1; len-- > 0;) {
    auto it = prefix_.find(path.substr(0, len));
    if (it != prefix_.end()) {
      best_prefix = &it->second;
      best_key = it->first;
      break;
    }
  }
  if (best_prefix != nullptr) {
    if (segment_.empty()) return best_prefix;
    candidates.push_back({best_key.size(), 0, true, best_key, best_prefix});
  }
  if (segment_.empty()) return nullptr;

  std::vector<std::string> parts = split(path, '/');
  for (const auto& [full, perms] : segment_) {
    if (full.empty()) continue;
    Candidate c{full.find('+'), 0, false, full, &perms};
    if (full.back() == '*') {
      c.is_prefix = true;
      c.wc_path.pop_back();
    }
    std::vector<std::string> acl_parts = split(c.wc_path, '/');
    if (parts.size() < acl_parts.size()) continue;
    if (!c.is_prefix && acl_parts.size() != parts.size()) continue;
    bool ok = true;
    for (std::size_t i = 0; i < acl_parts.size() && ok; ++i) {
      if (acl_parts[i] == "+") {
        ++c.wildcards;
      } else if (acl_parts[i] == parts[i]) {
      } else if (c.is_prefix && i == acl_parts.size() - 1 && starts_with(parts[i], acl_parts[i])) {
      } else {
        ok = false;
      }
    }
    if (ok) candidates.push_back(std::move(c));
  }
  if (candidates.empty()) return nullptr;
  auto less = [](const Candidate& a, const Candidate& b) {
    if (a.first_wc != b.first_wc) return a.first_wc < b.first_wc;
    if (a.is_prefix != b.is_prefix) return a.is_prefix;
    if (a.wildcards != b.wildcards) return a.wildcards > b.wildcards;
    if (a.wc_path.size() != b.wc_path.size()) return a.wc_path.size() < b.wc_path.size();
    return a.wc_path < b.wc_path;
  };
  return std::max_element(candidates.begin(), candidates.end(), less)->perms;
}

const Permissions* Acl::find(const std::string& raw_path, bool list_op) const {
  std::string path = raw_path;
  while (!path.empty() && path[0] == '/') path.erase(0, 1);
  if (auto it = exact_.find(path); it != exact_.end()) return &it->second;
  if (list_op && ends_with(path, "/")) {
    if (auto it = exact_.find(path.substr(0, path.size() - 1)); it != exact_.end()) {
      return &it->second;
    }
  }
  return from_non_exact(path);
}

AclDecision Acl::check(Operation op, const std::string& path, const json& data) const {
  AclDecision d;
  if (root_) {
    d.allowed = d.sudo = true;
    return d;
  }
  const Permissions* perms = find(path, op == Operation::list);
  if (perms == nullptr) return d;
  std::uint32_t caps = perms->caps;
  d.sudo = (caps & cap::sudo) != 0;
  std::uint32_t needed = 0;
  switch (op) {
    case Operation::read: needed = cap::read; break;
    case Operation::list: needed = cap::list; break;
    case Operation::create: needed = cap::create; break;
    case Operation::update: needed = cap::update; break;
    case Operation::del: needed = cap::del; break;
    case Operation::patch: needed = cap::patch; break;
  }
  if ((caps & needed) == 0) return d;
  if (op == Operation::read || op == Operation::update || op == Operation::create ||
      op == Operation::patch) {
    bool has_data = data.is_object() && !data.empty();
    for (const auto& r : perms->required_parameters) {
      if (!has_data || !data.contains(to_lower(r))) return d;
    }
    if (!has_data) {
      d.allowed = true;
      return d;
    }
    if (!perms->denied_parameters.empty()) {
      if (perms->denied_parameters.count("*")) return d;
      for (const auto& [k, v] : data.items()) {
        auto it = perms->denied_parameters.find(to_lower(k));
        if (it != perms->denied_parameters.end() && value_in_list(v, it->second)) return d;
      }
    }
    if (!perms->allowed_parameters.empty()) {
      bool allowed_all = perms->allowed_parameters.count("*") > 0;
      if (!(perms->allowed_parameters.size() == 1 && allowed_all)) {
        for (const auto& [k, v] : data.items()) {
          auto it = perms->allowed_parameters.find(to_lower(k));
          if (it == perms->allowed_parameters.end()) {
            if (!allowed_all) return d;
            continue;
          }
          if (!value_in_list(v, it->second)) return d;
        }
      }
    }
  }
  d.allowed = true;
  return d;
}

std::vector<std::string> Acl::capabilities(const std::string& path) const {
  if (root_) return {"root"};
  const Permissions* perms = find(path, /*list_op=*/true);
  std::uint32_t caps = perms ? perms->caps : 0;
  std::vector<std::string> out;
  if (caps & cap::deny) return {"deny"};
  static const std::pair<std::uint32_t, const char*> kNames[] = {
      {cap::create, "create"}, {cap::del, "delete"},     {cap::list, "list"},
      {cap::patch, "patch"},   {cap::read, "read"},      {cap::subscribe, "subscribe"},
      {cap::sudo, "sudo"},     {cap::update, "update"}};
  for (const auto& [bit, name] : kNames) {
    if (caps & bit) out.emplace_back(name);
  }
  if (out.empty()) out.emplace_back("deny");
  return out;
}

}  // namespace ps::vault::emulator
