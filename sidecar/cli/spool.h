// Output held back until the ledger's read transaction has ended: a slow reader of stdout
// (a pager, a stalled pipe) must never hold the ledger's lock, which in rollback-journal mode
// keeps the platform's writers waiting. Kept in memory up to a limit, then in an unnamed
// temporary file (removed automatically), so a 100k-agent listing costs no more memory than
// a small one.
#pragma once

#include <cstddef>
#include <cstdio>
#include <ostream>
#include <string>
#include <string_view>

namespace ps::sidecar {

class Spool {
 public:
  static constexpr std::size_t kDefaultMemoryLimit = 16u << 20;

  explicit Spool(std::size_t memory_limit = kDefaultMemoryLimit) : limit_(memory_limit) {}
  ~Spool();
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  // If the temporary file cannot be created or written, everything stays in memory.
  void append(std::string_view chunk);
  // Writes everything appended so far to `out`, in order. False if the temporary file could
  // not be read back (out then holds a truncated copy).
  bool copy_to(std::ostream& out);

 private:
  std::size_t limit_;
  std::string memory_;
  std::FILE* file_ = nullptr;
  bool file_failed_ = false;
  bool broken_ = false;  // a write to the file failed part-way
};

}  // namespace ps::sidecar
