// Parts of the daemon that need no process: systemd notification datagrams (path and abstract
// sockets), agent id validation.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <cstddef>
#include <cstring>

#include <string>

#include "sidecar/server/operator_api.h"
#include "sidecar/server/sd_notify.h"
#include "tests/support/temp_dir.h"

using namespace ps::sidecar;
using namespace ps::sidecar::server;

namespace {

int bind_dgram(const std::string& name, bool abstract) {
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::size_t len = offsetof(sockaddr_un, sun_path);
  if (abstract) {
    std::memcpy(addr.sun_path + 1, name.data(), name.size());
    len += 1 + name.size();
  } else {
    std::memcpy(addr.sun_path, name.data(), name.size());
    len += name.size() + 1;
  }
  BOOST_REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), static_cast<socklen_t>(len)) == 0);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

std::string receive(int fd) {
  char buf[1024];
  const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "";
}

}  // namespace

BOOST_AUTO_TEST_SUITE(daemon_parts)

BOOST_AUTO_TEST_CASE(notifications_reach_a_path_socket) {
  ps::testing::TempDir dir;
  const std::string path = dir.file("notify");
  const int fd = bind_dgram(path, false);
  SdNotifier n(path);
  BOOST_TEST(n.ready("serving").ok());
  const std::string ready = receive(fd);
  BOOST_TEST(ready.find("READY=1\nSTATUS=serving\nMAINPID=" + std::to_string(::getpid())) == 0u, ready);
  BOOST_TEST(n.reloading().ok());
  BOOST_TEST(receive(fd).find("RELOADING=1\nMONOTONIC_USEC=") == 0u);
  BOOST_TEST(n.stopping().ok());
  BOOST_TEST(receive(fd).find("STOPPING=1") == 0u);
  ::close(fd);
}

BOOST_AUTO_TEST_CASE(notifications_reach_an_abstract_socket) {
  const std::string name = "ps-sd-unit-" + std::to_string(::getpid());
  const int fd = bind_dgram(name, true);
  SdNotifier n("@" + name);
  BOOST_TEST(n.ready("x").ok());
  BOOST_TEST(receive(fd).find("READY=1") == 0u);
  ::close(fd);
}

BOOST_AUTO_TEST_CASE(without_notify_socket_nothing_is_sent_and_bad_values_are_reported) {
  BOOST_TEST(SdNotifier("").notify("READY=1").ok());
  BOOST_TEST(!SdNotifier("relative/path").notify("READY=1").ok());
  BOOST_TEST(!SdNotifier("/nonexistent/notify.sock").notify("READY=1").ok());
}

BOOST_AUTO_TEST_CASE(agent_ids_are_utf8_without_control_characters) {
  BOOST_TEST(is_valid_agent_id("agent-7"));
  BOOST_TEST(is_valid_agent_id("a b/../c"));
  BOOST_TEST(is_valid_agent_id("\xe2\x9c\x93"));          // ✓
  BOOST_TEST(is_valid_agent_id("\xf0\x9f\x98\x80"));      // 😀
  BOOST_TEST(!is_valid_agent_id(""));
  BOOST_TEST(!is_valid_agent_id(std::string(513, 'a')));
  BOOST_TEST(!is_valid_agent_id(std::string("a\0b", 3)));
  BOOST_TEST(!is_valid_agent_id("a\r\nb"));
  BOOST_TEST(!is_valid_agent_id("\x7f"));
  BOOST_TEST(!is_valid_agent_id("\xc2\x85"));             // C1 control (NEL)
  BOOST_TEST(!is_valid_agent_id("\xff\xfe"));
  BOOST_TEST(!is_valid_agent_id("\xc0\xaf"));             // overlong '/'
  BOOST_TEST(!is_valid_agent_id("\xed\xa0\x80"));         // surrogate
  BOOST_TEST(!is_valid_agent_id("\xe2\x9c"));             // truncated
}

BOOST_AUTO_TEST_SUITE_END()
