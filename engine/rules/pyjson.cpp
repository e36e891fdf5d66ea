#include "engine/rules/pyjson.h"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace ps::engine {
namespace {

void append_u_escape(std::string& out, unsigned cp) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "\\u%04x", cp);
  out += buf;
}

// Decodes one UTF-8 sequence starting at s[i]; returns the code point and advances i, or
// returns U+FFFD and skips one byte when the sequence is malformed.
unsigned decode_utf8(std::string_view s, std::size_t& i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  int len = 0;
  unsigned cp = 0;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
    cp = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    cp = b0 & 0x0F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    cp = b0 & 0x07;
  } else {
    ++i;
    return 0xFFFD;
  }
  if (i + static_cast<std::size_t>(len) > s.size()) {
    ++i;
    return 0xFFFD;
  }
  for (int k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + static_cast<std::size_t>(k)]);
    if ((b & 0xC0) != 0x80) {
      ++i;
      return 0xFFFD;
    }
    cp = (cp << 6) | (b & 0x3F);
  }
  const bool overlong = (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000);
  if (overlong || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    ++i;
    return 0xFFFD;
  }
  i += static_cast<std::size_t>(len);
  return cp;
}

}  // namespace

void append_py_json_string(std::string& out, std::string_view s) {
  out += '"';
  std::size_t i = 0;
  while (i < s.size()) {
    // Runs of printable ASCII other than " and \ are copied as they are.
    std::size_t run = i;
    while (run < s.size()) {
      const auto u = static_cast<unsigned char>(s[run]);
      if (u < 0x20 || u >= 0x7F || u == '"' || u == '\\') break;
      ++run;
    }
    if (run > i) {
      out.append(s.data() + i, run - i);
      i = run;
      continue;
    }
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7F) {
      if (c == '"') {
        out += "\\\"";
      } else if (c == '\\') {
        out += "\\\\";
      } else {
        out += static_cast<char>(c);
      }
      ++i;
      continue;
    }
    if (c < 0x80) {
      switch (c) {
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        default: append_u_escape(out, c);
      }
      ++i;
      continue;
    }
    const unsigned cp = decode_utf8(s, i);
    if (cp >= 0x10000) {
      const unsigned v = cp - 0x10000;
      append_u_escape(out, 0xD800 + (v >> 10));
      append_u_escape(out, 0xDC00 + (v & 0x3FF));
    } else {
      append_u_escape(out, cp);
    }
  }
  out += '"';
}

std::string py_float_repr(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v < 0 ? "-inf" : "inf";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  std::string_view sci(buf, static_cast<std::size_t>(res.ptr - buf));
  std::string sign;
  if (!sci.empty() && sci[0] == '-') {
    sign = "-";
    sci.remove_prefix(1);
  }
  const auto e_pos = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, e_pos)) {
    if (c != '.') digits += c;
  }
  const int exp10 = std::stoi(std::string(sci.substr(e_pos + 1)));
  const int decpt = exp10 + 1;  // position of the decimal point relative to the digits
  const int nd = static_cast<int>(digits.size());
  std::string out = sign;
  if (decpt > -4 && decpt <= 16) {
    if (decpt <= 0) {
      out += "0." + std::string(static_cast<std::size_t>(-decpt), '0') + digits;
    } else if (decpt >= nd) {
      out += digits + std::string(static_cast<std::size_t>(decpt - nd), '0') + ".0";
    } else {
      out += digits.substr(0, static_cast<std::size_t>(decpt)) + "." +
             digits.substr(static_cast<std::size_t>(decpt));
    }
    return out;
  }
  out += digits.substr(0, 1);
  if (nd > 1) out += "." + digits.substr(1);
  char ebuf[16];
  std::snprintf(ebuf, sizeof ebuf, "e%c%02d", exp10 < 0 ? '-' : '+', std::abs(exp10));
  out += ebuf;
  return out;
}

std::string py_str(const SqlValue& v) {
  if (std::holds_alternative<std::monostate>(v)) return "None";
  if (const auto* i = std::get_if<std::int64_t>(&v)) return std::to_string(*i);
  if (const auto* d = std::get_if<double>(&v)) return py_float_repr(*d);
  return std::get<std::string>(v);
}

void PyJsonWriter::newline_indent() {
  out_ += '\n';
  out_.append(stack_.size() * 2, ' ');
}

void PyJsonWriter::before_value() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (stack_.empty()) return;
  Level& top = stack_.back();
  if (top.count > 0) out_ += style_ == Style::compact ? ", " : ",";
  if (style_ == Style::indent2) newline_indent();
  ++top.count;
}

void PyJsonWriter::key(std::string_view k) {
  before_value();
  append_py_json_string(out_, k);
  out_ += ": ";
  after_key_ = true;
}

void PyJsonWriter::begin_object() {
  before_value();
  out_ += '{';
  stack_.push_back({true, 0});
}

void PyJsonWriter::begin_array() {
  before_value();
  out_ += '[';
  stack_.push_back({false, 0});
}

void PyJsonWriter::end_object() {
  const Level top = stack_.back();
  stack_.pop_back();
  if (top.count > 0 && style_ == Style::indent2) newline_indent();
  out_ += '}';
}

void PyJsonWriter::end_array() {
  const Level top = stack_.back();
  stack_.pop_back();
  if (top.count > 0 && style_ == Style::indent2) newline_indent();
  out_ += ']';
}

void PyJsonWriter::string(std::string_view s) {
  before_value();
  append_py_json_string(out_, s);
}

void PyJsonWriter::integer(std::int64_t v) {
  before_value();
  char buf[24];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  out_.append(buf, static_cast<std::size_t>(res.ptr - buf));
}

void PyJsonWriter::real(double v) {
  before_value();
  if (std::isnan(v)) {
    out_ += "NaN";
  } else if (std::isinf(v)) {
    out_ += v < 0 ? "-Infinity" : "Infinity";
  } else {
    out_ += py_float_repr(v);
  }
}

void PyJsonWriter::boolean(bool v) {
  before_value();
  out_ += v ? "true" : "false";
}

void PyJsonWriter::null() {
  before_value();
  out_ += "null";
}

void PyJsonWriter::value(const SqlValue& v) {
  if (std::holds_alternative<std::monostate>(v)) {
    null();
  } else if (const auto* i = std::get_if<std::int64_t>(&v)) {
    integer(*i);
  } else if (const auto* d = std::get_if<double>(&v)) {
    real(*d);
  } else {
    string(std::get<std::string>(v));
  }
}

}  // namespace ps::engine
