#include "sidecar/sync/lease.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <fstream>
#include <set>
#include <sstream>

#include "engine/base/mutex.h"

namespace ps::sidecar {
namespace {

// Read once: lease checks ask for it per leased row they look at.
const std::string& hostname() {
  static const std::string name = [] {
    char buf[HOST_NAME_MAX + 1] = {};
    if (::gethostname(buf, sizeof buf - 1) != 0) return std::string("unknown");
    return std::string(buf);
  }();
  return name;
}

struct ProcInfo {
  bool exists = false;
  bool zombie = false;
  std::string start;  // field 22 of /proc/<pid>/stat (start time in clock ticks since boot)
};

ProcInfo proc_info(long pid) {
  ProcInfo info;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!in || !std::getline(in, line)) return info;
  // The command name (field 2) is in parentheses and may contain spaces: parse after the last ')'.
  const auto close = line.rfind(')');
  if (close == std::string::npos) return info;
  std::istringstream rest(line.substr(close + 1));
  std::string field;
  std::string state;
  rest >> state;  // field 3
  for (int i = 4; i <= 22 && rest >> field; ++i) {
    if (i == 22) info.start = field;
  }
  info.exists = !info.start.empty();
  info.zombie = state == "Z" || state == "X";
  return info;
}

ps::Mutex retired_mu;
std::set<std::string, std::less<>>& retired() {
  static std::set<std::string, std::less<>> ids;
  return ids;
}

bool is_retired(std::string_view owner) {
  ps::MutexLock lock(retired_mu);
  return retired().count(owner) > 0;
}

}  // namespace

void retire_lease_owner(std::string_view owner) {
  ps::MutexLock lock(retired_mu);
  retired().emplace(owner);
}

const std::string& this_process_lease_owner() {
  static const std::string owner = [] {
    const long pid = static_cast<long>(::getpid());
    return hostname() + ":" + std::to_string(pid) + ":" + proc_info(pid).start;
  }();
  return owner;
}

bool lease_owner_is_dead(std::string_view owner) {
  // "<host>:<pid>:<start>" optionally followed by ":<worker>" (several workers per process).
  std::string_view fields[3];
  std::string_view rest = owner;
  for (int i = 0; i < 3; ++i) {
    const auto colon = rest.find(':');
    fields[i] = rest.substr(0, colon);
    rest = colon == std::string_view::npos ? std::string_view{} : rest.substr(colon + 1);
    if (fields[i].empty()) return false;
  }
  const std::string_view host = fields[0], pid_text = fields[1], start = fields[2];
  const std::string& me = this_process_lease_owner();
  if (host != hostname()) return false;
  if (owner.substr(0, me.size()) == me &&
      (owner.size() == me.size() || owner[me.size()] == ':')) {
    return is_retired(owner);  // this process: dead only as a retired worker
  }
  long pid = 0;
  if (pid_text.size() > 9) return false;
  for (char c : pid_text) {
    if (c < '0' || c > '9') return false;
    pid = pid * 10 + (c - '0');
  }
  if (pid <= 0) return false;
  const ProcInfo info = proc_info(pid);
  if (!info.exists) return ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
  return info.zombie || info.start != start;
}

Result<bool> keep_lease(Clock::WallTime now, Clock::WallTime& lease_until,
                        std::chrono::milliseconds needed, std::chrono::milliseconds lease,
                        const std::function<Result<bool>(Clock::WallTime until)>& renew) {
  if (lease_until - now >= needed) return true;
  const Clock::WallTime until = now + lease;
  auto renewed = renew(until);
  if (!renewed.ok()) return renewed.status();
  if (*renewed) lease_until = until;
  return *renewed;
}

}  // namespace ps::sidecar
