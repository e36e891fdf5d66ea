#include "sidecar/config/config.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

#include <nlohmann/json.hpp>

#include "engine/rules/rules_config.h"

namespace ps::sidecar {
namespace {

using json = nlohmann::ordered_json;

Status invalid(const std::string& path, const std::string& what) {
  return {Code::invalid_argument, "config: " + path + ": " + what};
}

std::optional<std::int64_t> non_negative_int(const json& v) {
  if (v.is_number_unsigned() &&
      v.get<std::uint64_t>() <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    return static_cast<std::int64_t>(v.get<std::uint64_t>());
  }
  if (v.is_number_integer() && v.get<std::int64_t>() >= 0) return v.get<std::int64_t>();
  return std::nullopt;
}

Status parse_ledger(const json& section, const std::string& path, Config& config) {
  if (!section.is_object()) return invalid(path, "must be an object");
  for (const auto& [key, value] : section.items()) {
    const std::string key_path = engine::config_key_path(path, key);
    if (key == "path") {
      if (!value.is_string() || value.get<std::string>().empty()) {
        return invalid(key_path, "must be a non-empty string");
      }
      config.ledger.path = value.get<std::string>();
    } else if (key == "busy_timeout_ms") {
      auto ms = non_negative_int(value);
      if (!ms || *ms > std::numeric_limits<int>::max()) {
        return invalid(key_path, "must be a non-negative integer (milliseconds)");
      }
      config.ledger.busy_timeout_ms = *ms;
    } else if (key == "journal_mode") {  // applied by serve at start: sidecar/server/daemon.cpp
      if (!value.is_string() || (value != "keep" && value != "wal")) {
        return invalid(key_path, "must be \"keep\" or \"wal\"");
      }
      config.ledger.journal_mode = value.get<std::string>();
    } else if (key == "scan_threads") {
      auto n = non_negative_int(value);
      if (!n || *n > 64) return invalid(key_path, "must be an integer from 0 (one per CPU) to 64");
      config.ledger.scan_threads = static_cast<unsigned>(*n);
    } else {
      return invalid(key_path,
                     "unknown key (known: path, busy_timeout_ms, journal_mode, scan_threads)");
    }
  }
  return Status::success();
}

Status parse_rules(const json& section, const std::string& path, Config& config) {
  Status s = engine::apply_rules_config(section, path, config.rules);
  if (!s.ok()) return {s.code(), "config: " + s.message()};
  return s;
}

using SectionParser = Status (*)(const json&, const std::string&, Config&);
struct Section {
  std::string_view name;
  SectionParser parse;
};
// Every top-level section and its parser; a key not listed here is refused.
constexpr Section kSections[] = {
    {"ledger", parse_ledger},
    {"rules", parse_rules},
    {"listener", parse_listener_section},
    {"webhook", parse_webhook_section},
    {"api", parse_api_section},
    {"log", parse_log_section},
    {"audit", parse_audit_section},
    {"evaluate", parse_evaluate_section},
    {"health", parse_health_section},
    {"shutdown", parse_shutdown_section},
    {"retention", parse_retention_section},
    {"vault", parse_vault_section},
    {"roles", parse_roles_section},
    {"sync", parse_sync_section},
    {"reconcile", parse_reconcile_section},
    {"revocation", parse_revocation_section},
};

std::string known_sections() {
  std::string out;
  for (const Section& s : kSections) {
    if (!out.empty()) out += ", ";
    out += s.name;
  }
  return out;
}

}  // namespace

Result<Config> parse_config(std::string_view text, std::string_view source) {
  json doc;
  try {
    // Comments (// and /* */) are allowed, so shipped examples can explain themselves.
    doc = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/true,
                      /*ignore_comments=*/true);
  } catch (const json::parse_error& e) {
    // Our own message: line and column of the failing byte, no library text.
    std::size_t line = 1, column = 1;
    const std::size_t end = std::min<std::size_t>(e.byte > 0 ? e.byte - 1 : 0, text.size());
    for (std::size_t i = 0; i < end; ++i) {
      if (text[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    return Status(Code::invalid_argument, "config: " + std::string(source) +
                                              ": invalid JSON at line " + std::to_string(line) +
                                              ", column " + std::to_string(column));
  } catch (const json::exception&) {
    // The parser's other failure: a number beyond a double ("1e999", out_of_range 406). It
    // used to escape and abort the process (found by tests/fuzz/sidecar/config/config_fuzz.cpp).
    return Status(Code::invalid_argument,
                  "config: " + std::string(source) + ": a number is out of range");
  }
  if (!doc.is_object()) {
    return Status(Code::invalid_argument,
                  "config: " + std::string(source) + ": must be a JSON object");
  }
  Config config;
  for (const auto& [key, value] : doc.items()) {
    const Section* section = nullptr;
    for (const Section& s : kSections) {
      if (s.name == key) section = &s;
    }
    const std::string path = engine::config_key_path("", key);
    if (!section) return invalid(path, "unknown section (known: " + known_sections() + ")");
    if (Status s = section->parse(value, path, config); !s.ok()) return s;
  }
  // The cooldown is a promotion rule too: evaluate/eligible and the promotion transaction
  // read it from the rules (whichever order the sections came in).
  config.rules.set_cooldown_days(config.revocation.cooldown_days);
  return config;
}

Result<Config> load_config_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Status(Code::invalid_argument,
                  "config: cannot read " + path + ": " + std::strerror(errno));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    return Status(Code::invalid_argument, "config: cannot read " + path);
  }
  return parse_config(text.str(), path);
}

}  // namespace ps::sidecar
