#include "vault/secret_file.h"

#include <sys/stat.h>

#include "engine/base/private_file.h"
#include "vault/names.h"

namespace ps::vault {
namespace {

Error file_error(const std::string& path, const std::string& why) {
  return Error::make(ErrorCode::auth_unavailable, Action::retry,
                     "secret file " + preview(path) + ": " + why);
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

}  // namespace

Result<Secret> read_secret_file(const std::string& path, bool require_private) {
  // The one secret-file reader: no symlink, no FIFO wait, owner and mode checked. Without
  // `require_private` (the library's lenient mode; the daemon always requires it) a readable
  // file is taken, but never one others may write.
  PrivateFileRules rules;
  rules.secrecy = require_private ? FileSecrecy::secret : FileSecrecy::world_readable;
  auto read = ps::read_private_file(path, rules);
  if (!read.ok()) {
    // The reader's message starts with the path; say it once, shortened.
    const std::string& m = read.status().message();
    return file_error(path, m.compare(0, path.size(), path) == 0 ? m.substr(path.size() + 2) : m);
  }
  std::string content = std::move(*read);
  std::size_t begin = 0, end = content.size();
  while (begin < end && is_space(content[begin])) ++begin;
  while (end > begin && is_space(content[end - 1])) --end;
  if (begin == end) return file_error(path, "is empty");
  Secret value(content.substr(begin, end - begin));
  if (!is_header_safe(value.reveal())) {
    return file_error(path, "holds bytes that are not a token or id (value not shown)");
  }
  return value;
}

FileWatch::Identity FileWatch::current() const {
  Identity id;
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) return id;
  id.dev = static_cast<std::uint64_t>(st.st_dev);
  id.ino = static_cast<std::uint64_t>(st.st_ino);
  id.size = static_cast<std::uint64_t>(st.st_size);
  id.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  id.valid = true;
  return id;
}

bool FileWatch::changed() const {
  Identity now = current();
  return !now.valid || !last_.valid || !(now == last_);
}

void FileWatch::remember() { last_ = current(); }

}  // namespace ps::vault
