#include "sidecar/cli/process_hardening.h"

#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

extern char** environ;

namespace ps::sidecar {

std::optional<std::string> take_environment_secret(const char* name) {
  const std::size_t name_len = std::strlen(name);
  std::vector<char*> entries;  // every "NAME=..." (a hostile parent may pass several)
  for (char** e = environ; e && *e; ++e) {
    if (std::strncmp(*e, name, name_len) == 0 && (*e)[name_len] == '=') entries.push_back(*e);
  }
  std::optional<std::string> value;
  if (const char* v = std::getenv(name)) value = std::string(v);
  ::unsetenv(name);
  // unsetenv only drops the pointers; the bytes stay where the kernel put them, and
  // /proc/<pid>/environ reads exactly that memory.
  for (char* entry : entries) ::explicit_bzero(entry, std::strlen(entry));
  return value;
}

Status disable_core_dumps() {
  const rlimit no_core{0, 0};
  if (::setrlimit(RLIMIT_CORE, &no_core) != 0) {
    return Status(Code::internal,
                  std::string("cannot disable core dumps: setrlimit(RLIMIT_CORE, 0): ") +
                      std::strerror(errno));
  }
  if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
    return Status(Code::internal,
                  std::string("cannot disable core dumps: prctl(PR_SET_DUMPABLE, 0): ") +
                      std::strerror(errno));
  }
  return Status::success();
}

}  // namespace ps::sidecar
