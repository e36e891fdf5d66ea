// JSON text exactly as Python's json.dumps writes it, so that scripts comparing the sidecar's
// output with the reference engine's see the same bytes.
//
//  - Style::indent2 is json.dumps(x, indent=2): items separated by ",\n", two spaces per level,
//    "key": value, empty containers as {} and [].
//  - Style::compact is json.dumps(x): separators ", " and ": " (the promotions.evidence column).
//  - Strings are escaped with ensure_ascii=True: \" \\ \n \r \t \b \f, other code points below
//    0x20 and from 0x7f up as \uXXXX (lowercase hex, surrogate pairs above U+FFFF). Bytes that
//    are not valid UTF-8 are written as \ufffd.
//  - Floats use Python's repr (shortest round-trip; exponent when < 1e-4 or >= 1e16), and
//    NaN / Infinity / -Infinity as Python writes them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/rules/value.h"

namespace ps::engine {

class PyJsonWriter {
 public:
  enum class Style { indent2, compact };

  // Appends to `out`, which must outlive the writer.
  PyJsonWriter(std::string& out, Style style) : out_(out), style_(style) {}

  void begin_object();
  void end_object();
  void begin_array();
  void end_array();
  // Inside an object: the next value's key.
  void key(std::string_view k);

  void string(std::string_view s);
  void integer(std::int64_t v);
  void real(double v);
  void boolean(bool v);
  void null();
  void value(const SqlValue& v);

 private:
  void before_value();
  void newline_indent();

  struct Level {
    bool object;
    std::size_t count;
  };
  std::string& out_;
  Style style_;
  std::vector<Level> stack_;
  bool after_key_ = false;
};

// Python's repr(float) / str(float), e.g. 1.0, 0.0001, 1e-05, 1e+16, inf, nan.
std::string py_float_repr(double v);

// Python's str() of a value read from SQLite: None, 42, 1.5, or the text itself.
std::string py_str(const SqlValue& v);

// Appends `s` as a JSON string literal with Python's ensure_ascii escaping.
void append_py_json_string(std::string& out, std::string_view s);

}  // namespace ps::engine
