// The ps-dev-pki executable, run as a separate process.
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include <boost/test/unit_test.hpp>

#include "tests/tls/tls_test_support.h"

namespace ps::tls {
namespace {

std::string tool() {
  const char* path = std::getenv("PS_DEV_PKI");
  BOOST_REQUIRE_MESSAGE(path != nullptr, "PS_DEV_PKI is not set");
  return path;
}

int run(const std::string& command) {
  int status = std::system((command + " >/dev/null 2>&1").c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

BOOST_AUTO_TEST_SUITE(dev_pki_tool)

BOOST_AUTO_TEST_CASE(writes_a_dev_set_that_a_server_and_client_accept) {
  testing::TempDir dir;
  std::string out = dir.file("pki");
  BOOST_REQUIRE_EQUAL(run(tool() + " '" + out + "'"), 0);
  for (const char* name : {"ca.pem", "server.pem", "server-key.pem", "client.pem",
                           "client-key.pem", "expired.pem", "wrong-host.pem", "other-ca.pem",
                           "other-server.pem", "other-client-key.pem"}) {
    BOOST_TEST(std::filesystem::exists(out + "/" + name), name);
  }
  auto server = ServerTls::create({out + "/server.pem", out + "/server-key.pem", out + "/ca.pem"},
                                  nullptr);
  BOOST_REQUIRE_MESSAGE(server.ok(), server.status().message());
  ClientConfig cc;
  cc.ca_file = out + "/ca.pem";
  cc.cert_file = out + "/client.pem";
  cc.key_file = out + "/client-key.pem";
  auto client = ClientTls::create(cc, nullptr);
  BOOST_REQUIRE_MESSAGE(client.ok(), client.status().message());
  testing::TestServer srv(*server);
  BOOST_TEST(testing::get_hello(**client, srv.port()) == "hello");
}

BOOST_AUTO_TEST_CASE(without_a_directory_prints_usage_and_fails) {
  BOOST_TEST(run(tool()) == 2);
  BOOST_TEST(run(tool() + " --help") == 2);
}

BOOST_AUTO_TEST_CASE(an_unwritable_directory_fails) {
  testing::TempDir dir;
  testing::replace_file(dir.file("file"), "x");
  BOOST_TEST(run(tool() + " '" + dir.file("file") + "/sub'") == 1);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace ps::tls
