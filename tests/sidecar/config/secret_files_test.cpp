// The webhook secrets file (sidecar/config/secret_files.h): "whsec_" base64 secrets, several
// per file with comments and blank lines, refused when group or others can read it, and no
// error ever carries a secret.
#include <sys/stat.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <fstream>

#include "sidecar/config/secret_files.h"
#include "tests/support/test_support.h"

using namespace ps::sidecar;

namespace {

// The reference vector of the Standard Webhooks specification.
constexpr const char* kSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

void write_file(const std::string& path, const std::string& text, mode_t mode) {
  std::ofstream(path) << text;
  chmod(path.c_str(), mode);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(secret_files)

BOOST_AUTO_TEST_CASE(secrets_must_be_whsec_base64) {
  BOOST_TEST(WebhookSecret::parse(kSecret).ok());
  BOOST_TEST(!WebhookSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").ok());
  BOOST_TEST(!WebhookSecret::parse("whsec_").ok());
  BOOST_TEST(!WebhookSecret::parse("whsec_not base64!").ok());
  auto bad = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS");
  BOOST_TEST(!bad.ok());
  BOOST_TEST(bad.status().message().find("MfKQ") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(secrets_file_holds_several_secrets_comments_and_blank_lines) {
  ps::testing::TempDir dir;
  const std::string path = dir.file("secrets");
  write_file(path, "# rotated 2026-11\n\n" + std::string(kSecret) +
                       "\n  whsec_c2VjcmV0LW9mLWEtcm90YXRlZC1lbmRwb2ludA==  \r\n", 0600);
  auto loaded = load_webhook_secrets(path);
  BOOST_REQUIRE_MESSAGE(loaded.ok(), loaded.status().message());
  BOOST_TEST(loaded->size() == 2u);
}

BOOST_AUTO_TEST_CASE(secrets_file_readable_by_group_or_others_is_refused_without_its_content) {
  ps::testing::TempDir dir;
  const std::string path = dir.file("secrets");
  for (mode_t mode : {0640, 0604, 0660, 0620}) {
    write_file(path, std::string(kSecret) + "\n", mode);
    auto loaded = load_webhook_secrets(path);
    BOOST_TEST(!loaded.ok());
    BOOST_TEST(loaded.status().message().find("too open") != std::string::npos,
               loaded.status().message());
    BOOST_TEST(loaded.status().message().find("MfKQ") == std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(secrets_file_with_a_bad_line_names_the_line_not_the_value) {
  ps::testing::TempDir dir;
  const std::string path = dir.file("secrets");
  write_file(path, std::string(kSecret) + "\nwhsec_@@@@secretvalue\n", 0600);
  auto loaded = load_webhook_secrets(path);
  BOOST_TEST(!loaded.ok());
  BOOST_TEST(loaded.status().message().find("line 2") != std::string::npos);
  BOOST_TEST(loaded.status().message().find("secretvalue") == std::string::npos);
  write_file(path, "# nothing here\n", 0600);
  BOOST_TEST(load_webhook_secrets(path).status().message().find("holds no secret") !=
             std::string::npos);
  BOOST_TEST(!load_webhook_secrets(dir.file("missing")).ok());
}

BOOST_AUTO_TEST_CASE(a_fifo_symlink_or_foreign_owned_secret_file_is_refused_naming_the_key) {
  ps::testing::TempDir dir;
  const std::string fifo = dir.file("fifo");
  BOOST_REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  // Opened without O_NONBLOCK this would wait for a writer forever (start-up hangs).
  auto from_fifo = load_api_token(fifo);
  BOOST_REQUIRE(!from_fifo.ok());
  BOOST_TEST(from_fifo.status().message().find("api.token_file: " + fifo) == 0u,
             from_fifo.status().message());
  BOOST_TEST(from_fifo.status().message().find("not a regular file") != std::string::npos);

  const std::string real = dir.file("secrets");
  write_file(real, std::string(kSecret) + "\n", 0600);
  const std::string link = dir.file("link");
  BOOST_REQUIRE(::symlink(real.c_str(), link.c_str()) == 0);
  auto via_link = load_webhook_secrets(link);
  BOOST_REQUIRE(!via_link.ok());
  BOOST_TEST(via_link.status().message().find("symbolic link") != std::string::npos,
             via_link.status().message());
  BOOST_TEST(via_link.status().message().find("MfKQ") == std::string::npos);

  if (::geteuid() == 0) {  // only root can give a file away
    BOOST_REQUIRE(::chown(real.c_str(), 65534, 65534) == 0);
    auto foreign = load_webhook_secrets(real);
    BOOST_REQUIRE(!foreign.ok());
    BOOST_TEST(foreign.status().message().find("owned by uid 65534") != std::string::npos,
               foreign.status().message());
  }
}

BOOST_AUTO_TEST_SUITE_END()

