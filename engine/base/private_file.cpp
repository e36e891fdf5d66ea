#include "engine/base/private_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace ps {
namespace {

struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

std::string mode_text(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

Status open_error(const std::string& path, int err) {
  if (err == ELOOP) {
    return Status(Code::invalid_argument, path + ": is a symbolic link (refused; name the file itself)");
  }
  const Code code = err == ENOENT                   ? Code::not_found
                    : err == EACCES || err == EPERM ? Code::permission_denied
                                                    : Code::unavailable;
  return Status(code, path + ": cannot open: " + std::strerror(err));
}

// "" when the descriptor's file may be read under `rules`, else why not.
std::string refusal(const struct stat& st, const PrivateFileRules& rules) {
  if (!S_ISREG(st.st_mode)) return "not a regular file";
  const uid_t owner = rules.owner ? *rules.owner : ::geteuid();
  if (st.st_uid != owner && st.st_uid != 0) {
    return "owned by uid " + std::to_string(st.st_uid) + ", not by this process's user (uid " +
           std::to_string(owner) + ") or root (chown it)";
  }
  const mode_t forbidden = rules.secrecy == FileSecrecy::secret        ? mode_t{077}
                           : rules.secrecy == FileSecrecy::private_key ? mode_t{027}
                                                                       : mode_t{022};
  if ((st.st_mode & forbidden) != 0) {
    return "permissions " + mode_text(st.st_mode) + " are too open: " +
           (rules.secrecy == FileSecrecy::secret
                ? "a secret file must not be accessible by group or others (chmod 600)"
            : rules.secrecy == FileSecrecy::private_key
                ? "a private key must not be writable by group nor accessible by others "
                  "(chmod 600 or 640)"
                : "a secret file must not be writable by group or others (chmod 600)");
  }
  if (static_cast<std::size_t>(st.st_size) > rules.max_bytes) {
    return "larger than " + std::to_string(rules.max_bytes / 1024) + " KiB";
  }
  return "";
}

}  // namespace

Result<std::string> read_private_file(const std::string& path, const PrivateFileRules& rules) {
  // O_NOFOLLOW: a symlink planted in place of the file is refused (ELOOP); O_NONBLOCK: opening
  // a FIFO does not wait for a writer. Every check is on the opened descriptor.
  Fd file{::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)};
  if (file.fd < 0) return open_error(path, errno);
  struct stat st {};
  if (::fstat(file.fd, &st) != 0) {
    return Status(Code::unavailable, path + ": cannot stat: " + std::strerror(errno));
  }
  if (auto why = refusal(st, rules); !why.empty()) {
    return Status(Code::invalid_argument, path + ": " + why);
  }
  std::string text;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(file.fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      std::memset(buf, 0, sizeof buf);
      return Status(Code::unavailable, path + ": cannot read: " + std::strerror(err));
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    if (text.size() > rules.max_bytes) {
      std::memset(buf, 0, sizeof buf);
      return Status(Code::invalid_argument,
                    path + ": larger than " + std::to_string(rules.max_bytes / 1024) + " KiB");
    }
  }
  std::memset(buf, 0, sizeof buf);
  return text;
}

}  // namespace ps
