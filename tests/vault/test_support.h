// Small helpers for the vault tests: files, the role-name rule, and a log capture that
// checks no secret ever reached a log line.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

#include "tests/support/files.h"
#include "tests/support/temp_dir.h"
#include "tls/tls.h"

namespace ps::vault::testing {

using ps::testing::TempDir;

using ps::testing::write_file;

// Writes a temp file and renames it over `path`, as Vault Agent's file sink does.
inline void replace_file(const std::string& path, const std::string& content) {
  write_file(path + ".tmp", content);
  std::filesystem::rename(path + ".tmp", path);
}

// Vault's role-name rule \w(([\w-.]+)?\w)? with ASCII \w, anchored, written out by hand
// (independent of vault/names.cpp; std::regex trips GCC 12's -Wmaybe-uninitialized under
// sanitizers).
inline bool matches_vault_role_rule(const std::string& s) {
  auto word = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  };
  if (s.empty() || !word(s.front()) || !word(s.back())) return false;
  for (char c : s) {
    if (!word(c) && c != '-' && c != '.') return false;
  }
  return true;
}

struct LogCapture {
  std::mutex mu;
  std::vector<std::string> lines;

  LogFn fn() {
    return [this](LogLevel, std::string_view message) {
      std::lock_guard<std::mutex> lock(mu);
      lines.emplace_back(message);
    };
  }
  // The first line containing any of `secrets`, or empty.
  std::string find_any(const std::vector<std::string>& secrets) {
    std::lock_guard<std::mutex> lock(mu);
    for (const auto& line : lines) {
      for (const auto& s : secrets) {
        if (!s.empty() && line.find(s) != std::string::npos) return line;
      }
    }
    return {};
  }
  bool contains(const std::string& text) {
    std::lock_guard<std::mutex> lock(mu);
    for (const auto& line : lines) {
      if (line.find(text) != std::string::npos) return true;
    }
    return false;
  }
};

}  // namespace ps::vault::testing
