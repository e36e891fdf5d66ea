// Process hardening (sidecar/cli/process_hardening.h): VAULT_TOKEN leaves the environment
// (also the bytes /proc/<pid>/environ shows), and core dumps are off with both calls checked.
// The calls change the whole process, so each case runs in a forked child. The running
// daemon's /proc/<pid>/environ and limits: tests/integration/serve/hardening_e2e_test.cpp.
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <cstdlib>
#include <cstring>
#include <functional>

#include "sidecar/cli/process_hardening.h"

extern char** environ;

namespace {

// Runs `body` in a forked child; its return value is the child's exit status.
int in_child(const std::function<int()>& body) {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(body());
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(process_hardening)

BOOST_AUTO_TEST_CASE(core_dumps_are_off_and_the_process_is_not_dumpable) {
  const int status = in_child([] {
    if (!ps::sidecar::disable_core_dumps().ok()) return 1;
    rlimit core{};
    if (::getrlimit(RLIMIT_CORE, &core) != 0 || core.rlim_cur != 0 || core.rlim_max != 0) return 2;
    if (::prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0) return 3;
    return 0;
  });
  BOOST_TEST(status == 0);
}

BOOST_AUTO_TEST_CASE(the_taken_secret_is_returned_and_gone_from_the_environment) {
  const int status = in_child([] {
    ::setenv("PS_TEST_SECRET", "hvs.s3cr3t-value", 1);
    auto v = ps::sidecar::take_environment_secret("PS_TEST_SECRET");
    if (!v || *v != "hvs.s3cr3t-value") return 1;
    if (std::getenv("PS_TEST_SECRET") != nullptr) return 2;
    for (char** e = environ; *e; ++e) {
      if (std::strstr(*e, "s3cr3t") != nullptr) return 3;
    }
    if (ps::sidecar::take_environment_secret("PS_TEST_SECRET").has_value()) return 4;
    return 0;
  });
  BOOST_TEST(status == 0);
}

BOOST_AUTO_TEST_SUITE_END()
