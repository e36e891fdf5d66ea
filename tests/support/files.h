// Whole-file reads and writes for tests. Header-only, so every test target can use them.
#pragma once

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

namespace ps::testing {

// The whole file ("" when it is missing or unreadable).
inline std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Creates or truncates `path` with `content`; throws when it cannot be written.
inline void write_file(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  if (!out) throw std::runtime_error("cannot write " + path);
}

}  // namespace ps::testing
