// Value types shared by the core: request/response helpers, VaultResponse constructors and
// framework.FieldData-style validation of request data.
#include <algorithm>
#include <cctype>

#include "vault/emulator/core.h"

namespace ps::vault::emulator {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

const char* go_json_type(const json& j) {
  if (j.is_array()) return "array";
  if (j.is_string()) return "string";
  if (j.is_boolean()) return "bool";
  if (j.is_number()) return "number";
  return "null";
}

}  // namespace

// ----------------------------------------------------------------------------------------
// Small value types

const std::string* HttpRequest::header(std::string_view name) const {
  for (const auto& h : headers) {
    if (iequals(h.name, name)) return &h.value;
  }
  return nullptr;
}

const std::string* HttpResponse::header(std::string_view name) const {
  for (const auto& h : headers) {
    if (iequals(h.name, name)) return &h.value;
  }
  return nullptr;
}

void HttpResponse::set_header(std::string name, std::string value) {
  for (auto& h : headers) {
    if (iequals(h.name, name)) {
      h.value = std::move(value);
      return;
    }
  }
  headers.push_back({std::move(name), std::move(value)});
}

VaultResponse VaultResponse::ok(json data) {
  VaultResponse r;
  r.kind = Kind::response;
  r.data = std::move(data);
  return r;
}

VaultResponse VaultResponse::keys(std::vector<std::string> keys) {
  VaultResponse r = ok(json{{"keys", std::move(keys)}});
  r.list = true;
  return r;
}

VaultResponse VaultResponse::bad(std::string message, int status) {
  VaultResponse r;
  r.kind = Kind::error_response;
  r.status = status;
  r.messages = {std::move(message)};
  return r;
}

VaultResponse VaultResponse::error(int status, std::string message) {
  return error(status, std::vector<std::string>{std::move(message)});
}

VaultResponse VaultResponse::error(int status, std::vector<std::string> messages) {
  VaultResponse r;
  r.kind = Kind::error;
  r.status = status;
  r.messages = std::move(messages);
  return r;
}

HttpResponse json_response(int status, const json& body) {
  HttpResponse r;
  r.status = status;
  r.headers.push_back({"Content-Type", "application/json"});
  r.body = safe_dump(body) + "\n";
  return r;
}

HttpResponse error_response(int status, const std::vector<std::string>& errors) {
  return json_response(status, json{{"errors", errors}});
}

const char* status_text(int status) {
  switch (status) {
    case 200: return "OK";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 307: return "Temporary Redirect";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 412: return "Precondition Failed";
    case 413: return "Request Entity Too Large";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Unknown";
  }
}

// ----------------------------------------------------------------------------------------
// Fields

namespace {

// One field's value converted to its declared type. The error's message is the reason
// (Vault's text after "... for field NAME: ").
Result<json> convert_field(FieldType type, const json& v) {
  auto fail = [](const std::string& why) { return Status(Code::invalid_argument, why); };
  json converted;
  switch (type) {
    case FieldType::string:
      if (v.is_string()) converted = v;
      else if (v.is_number_integer()) converted = std::to_string(v.get<std::int64_t>());
      else if (v.is_number()) converted = safe_dump(v);
      else if (v.is_boolean()) converted = v.get<bool>() ? "1" : "0";
      else if (v.is_null()) converted = "";
      else return fail(std::string("expected string, got ") + go_json_type(v));
      break;
    case FieldType::boolean:
      if (v.is_boolean()) converted = v;
      else if (v.is_string()) {
        auto b = v.get<std::string>().empty() ? std::optional<bool>(false)
                                              : parse_go_bool(v.get<std::string>());
        if (!b) return fail("cannot parse '' as bool: strconv.ParseBool: parsing " +
                            safe_dump(json(v.get<std::string>())) + ": invalid syntax");
        converted = *b;
      } else if (v.is_number()) converted = v.get<double>() != 0;
      else if (v.is_null()) converted = false;
      else return fail(std::string("expected bool, got ") + go_json_type(v));
      break;
    case FieldType::integer:
    case FieldType::duration:
      if (v.is_number()) converted = static_cast<std::int64_t>(v.get<double>());
      else if (v.is_string()) {
        const std::string s = v.get<std::string>();
        std::int64_t n = 0;
        bool ok = true;
        if (type == FieldType::duration) {
          auto d = parse_duration_seconds(s);
          ok = d.has_value();
          n = d.value_or(0);
        } else if (!s.empty()) {
          char* end = nullptr;
          n = std::strtoll(s.c_str(), &end, 10);
          ok = end != nullptr && *end == '\0';
        }
        if (!ok) {
          return fail(type == FieldType::duration
                          ? "time: invalid duration " + safe_dump(json(s))
                          : "strconv.ParseInt: parsing " + safe_dump(json(s)) + ": invalid syntax");
        }
        converted = n;
      } else if (v.is_boolean()) converted = v.get<bool>() ? 1 : 0;
      else if (v.is_null()) converted = 0;
      else return fail(std::string("expected number, got ") + go_json_type(v));
      break;
    case FieldType::comma_slice: {
      json list = json::array();
      if (v.is_string()) {
        if (!v.get<std::string>().empty()) {
          for (const auto& part : split(v.get<std::string>(), ',')) list.push_back(trim(part));
        }
      } else if (v.is_array()) {
        for (const auto& e : v) {
          if (e.is_string()) list.push_back(trim(e.get<std::string>()));
          else if (e.is_number() || e.is_boolean()) list.push_back(safe_dump(e));
          else return fail("source data must be an array or slice, got " + std::string(go_json_type(e)));
        }
      } else if (v.is_number()) {
        list.push_back(safe_dump(v));
      } else if (!v.is_null()) {
        return fail(std::string("'' expected type 'string', got unconvertible type '") +
                    go_json_type(v) + "'");
      }
      converted = list;
      break;
    }
    case FieldType::kv_map: {
      json map = json::object();
      if (v.is_object()) {
        for (const auto& [k, e] : v.items()) map[k] = e.is_string() ? e.get<std::string>() : safe_dump(e);
      } else if (!v.is_null()) {
        return fail(std::string("expected a map, got ") + go_json_type(v));
      }
      converted = map;
      break;
    }
  }
  return converted;
}

}  // namespace

Result<Fields> Fields::parse(const json& data, const std::vector<FieldSpec>& specs) {
  Fields out;
  for (const auto& spec : specs) {
    auto it = data.find(std::string(spec.name));
    if (it == data.end()) continue;
    auto converted = convert_field(spec.type, *it);
    if (!converted.ok()) {
      std::string shown = it->is_string() ? it->get<std::string>() : safe_dump(*it);
      return Status(Code::invalid_argument,
                    "Field validation failed: error converting input " + shown + " for field " +
                        safe_dump(json(std::string(spec.name))) + ": " +
                        converted.status().message());
    }
    out.values_[std::string(spec.name)] = std::move(*converted);
  }
  return out;
}

bool Fields::has(std::string_view name) const { return values_.contains(std::string(name)); }

std::string Fields::str(std::string_view name, const std::string& def) const {
  auto it = values_.find(std::string(name));
  return it == values_.end() ? def : it->get<std::string>();
}

bool Fields::boolean(std::string_view name, bool def) const {
  auto it = values_.find(std::string(name));
  return it == values_.end() ? def : it->get<bool>();
}

std::int64_t Fields::integer(std::string_view name, std::int64_t def) const {
  auto it = values_.find(std::string(name));
  return it == values_.end() ? def : it->get<std::int64_t>();
}

std::vector<std::string> Fields::slice(std::string_view name) const {
  auto it = values_.find(std::string(name));
  return it == values_.end() ? std::vector<std::string>{} : it->get<std::vector<std::string>>();
}

std::map<std::string, std::string> Fields::kv(std::string_view name) const {
  auto it = values_.find(std::string(name));
  return it == values_.end() ? std::map<std::string, std::string>{}
                             : it->get<std::map<std::string, std::string>>();
}

}  // namespace ps::vault::emulator
