#include "sidecar/cli/spool.h"

#include <vector>

namespace ps::sidecar {

Spool::~Spool() {
  if (file_) std::fclose(file_);
}

void Spool::append(std::string_view chunk) {
  memory_.append(chunk);
  if (memory_.size() < limit_ || file_failed_) return;
  if (!file_) {
    file_ = std::tmpfile();
    if (!file_) {
      file_failed_ = true;
      return;
    }
  }
  if (std::fwrite(memory_.data(), 1, memory_.size(), file_) != memory_.size()) {
    // A partial write leaves the file's content unknown: poison it, so copy_to() reports the
    // failure instead of printing a silently damaged document.
    file_failed_ = true;
    broken_ = true;
    return;
  }
  memory_.clear();
}

bool Spool::copy_to(std::ostream& out) {
  bool ok = !broken_;
  if (file_ && ok) {
    std::vector<char> buf(1u << 20);
    if (std::fflush(file_) != 0 || std::fseek(file_, 0, SEEK_SET) != 0) ok = false;
    while (ok) {
      const std::size_t n = std::fread(buf.data(), 1, buf.size(), file_);
      if (n > 0) out.write(buf.data(), static_cast<std::streamsize>(n));
      if (n < buf.size()) {
        ok = !std::ferror(file_);
        break;
      }
    }
  }
  if (ok) out.write(memory_.data(), static_cast<std::streamsize>(memory_.size()));
  out.flush();
  return ok;
}

}  // namespace ps::sidecar
