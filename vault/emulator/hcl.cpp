// A reader for the subset of HCL (v1) that Vault policies use. Output follows HCL's JSON view:
// `kw "label" { body }` appends {"label": body} to the array under "kw"; `kw { body }` appends
// body; `k = v` sets a value. Heredocs are not supported (policies do not use them).
#include <cctype>

#include "vault/emulator/acl.h"

namespace ps::vault::emulator {
namespace {

using nlohmann::json;

class HclReader {
 public:
  explicit HclReader(const std::string& text) : s_(text) {}

  Result<json> document() {
    json out = json::object();
    if (!body(out, /*until_brace=*/false) && error_.empty()) error_ = "unexpected end of input";
    if (!error_.empty()) {
      return Status(Code::invalid_argument, error_ + " at line " + std::to_string(line_));
    }
    return out;
  }

 private:
  // Skips whitespace, newlines, commas between items and comments. Returns false at EOF.
  bool skip_ws(bool commas = false) {
    while (pos_ < s_.size()) {
      char c = s_[pos_];
      if (c == '\n') {
        ++line_;
        ++pos_;
      } else if (std::isspace(static_cast<unsigned char>(c)) || (commas && c == ',')) {
        ++pos_;
      } else if (c == '#' || (c == '/' && peek(1) == '/')) {
        while (pos_ < s_.size() && s_[pos_] != '\n') ++pos_;
      } else if (c == '/' && peek(1) == '*') {
        auto end = s_.find("*/", pos_ + 2);
        if (end == std::string::npos) {
          error_ = "unterminated comment";
          return false;
        }
        for (std::size_t i = pos_; i < end; ++i) line_ += s_[i] == '\n';
        pos_ = end + 2;
      } else {
        return true;
      }
    }
    return false;
  }

  char peek(std::size_t ahead = 0) const {
    return pos_ + ahead < s_.size() ? s_[pos_ + ahead] : '\0';
  }

  bool fail(const std::string& what) {
    if (error_.empty()) error_ = what;
    return false;
  }

  bool key(std::string* out) {
    if (peek() == '"') return string(out);
    std::size_t start = pos_;
    while (pos_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[pos_])) ||
                                s_[pos_] == '_' || s_[pos_] == '-' || s_[pos_] == '.')) {
      ++pos_;
    }
    if (pos_ == start) return fail(std::string("unexpected character '") + peek() + "'");
    *out = s_.substr(start, pos_ - start);
    return true;
  }

  bool string(std::string* out) {
    ++pos_;  // opening quote
    out->clear();
    while (pos_ < s_.size() && s_[pos_] != '"') {
      char c = s_[pos_++];
      if (c == '\n') return fail("newline in string");
      if (c != '\\') {
        out->push_back(c);
        continue;
      }
      if (pos_ >= s_.size()) break;
      char e = s_[pos_++];
      switch (e) {
        case 'n': out->push_back('\n'); break;
        case 't': out->push_back('\t'); break;
        case 'r': out->push_back('\r'); break;
        case '"': out->push_back('"'); break;
        case '\\': out->push_back('\\'); break;
        default: out->push_back('\\'); out->push_back(e); break;
      }
    }
    if (pos_ >= s_.size()) return fail("unterminated string");
    ++pos_;
    return true;
  }

  bool value(json* out) {
    if (!skip_ws()) return fail("expected a value");
    char c = peek();
    if (c == '"') {
      std::string v;
      if (!string(&v)) return false;
      *out = v;
      return true;
    }
    if (c == '[') {
      ++pos_;
      *out = json::array();
      while (true) {
        if (!skip_ws(true)) return fail("unterminated list");
        if (peek() == ']') {
          ++pos_;
          return true;
        }
        json item;
        if (!value(&item)) return false;
        out->push_back(std::move(item));
      }
    }
    if (c == '{') {
      ++pos_;
      *out = json::object();
      return body(*out, /*until_brace=*/true);
    }
    std::size_t start = pos_;
    while (pos_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[pos_])) ||
                                s_[pos_] == '.' || s_[pos_] == '-' || s_[pos_] == '+')) {
      ++pos_;
    }
    std::string word = s_.substr(start, pos_ - start);
    if (word == "true" || word == "false") {
      *out = word == "true";
      return true;
    }
    if (!word.empty() && (std::isdigit(static_cast<unsigned char>(word[0])) || word[0] == '-')) {
      try {
        *out = word.find('.') != std::string::npos ? json(std::stod(word))
                                                   : json(std::stoll(word));
        return true;
      } catch (const std::exception&) {
        return fail("invalid number " + word);
      }
    }
    return fail("unexpected token '" + (word.empty() ? std::string(1, c) : word) + "'");
  }

  // Items until '}' (or EOF at top level).
  bool body(json& obj, bool until_brace) {
    while (true) {
      if (!skip_ws(true)) {
        if (until_brace) return fail("unterminated block");
        return true;
      }
      if (peek() == '}') {
        if (!until_brace) return fail("unexpected '}'");
        ++pos_;
        return true;
      }
      std::string k;
      if (!key(&k)) return false;
      if (!skip_ws()) return fail("unexpected end of input after " + k);
      if (peek() == '=' || peek() == ':') {
        ++pos_;
        json v;
        if (!value(&v)) return false;
        obj[k] = std::move(v);
        continue;
      }
      std::string label;
      bool labelled = false;
      if (peek() == '"') {
        if (!string(&label)) return false;
        labelled = true;
        if (!skip_ws()) return fail("expected '{'");
      }
      if (peek() != '{') return fail("expected '=' or '{' after " + k);
      ++pos_;
      json block = json::object();
      if (!body(block, /*until_brace=*/true)) return false;
      if (!obj.contains(k) || !obj[k].is_array()) obj[k] = json::array();
      if (labelled) {
        obj[k].push_back(json{{label, std::move(block)}});
      } else {
        obj[k].push_back(std::move(block));
      }
    }
  }

  const std::string& s_;
  std::size_t pos_ = 0;
  int line_ = 1;
  std::string error_;
};

}  // namespace

Result<nlohmann::json> parse_hcl(const std::string& text) { return HclReader(text).document(); }

}  // namespace ps::vault::emulator
