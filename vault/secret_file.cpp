#include "vault/secret_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

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
  constexpr std::size_t kMaxBytes = 64 * 1024;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return file_error(path, std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return file_error(path, "not a regular file");
  }
  if (require_private && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    ::close(fd);
    return file_error(path, "is accessible by group or others (chmod 600 it)");
  }
  std::string content;
  char buf[4096];
  while (content.size() <= kMaxBytes) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int saved = errno;
      ::close(fd);
      return file_error(path, std::strerror(saved));
    }
    if (n == 0) break;
    content.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  if (content.size() > kMaxBytes) return file_error(path, "larger than 64 KiB");
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
