// The one secret/key file reader (engine/base/private_file.h): a FIFO is refused at once (no
// hang), a symbolic link is refused, a file owned by another user is refused, the mode rules
// per kind, the size cap, and no error ever carries the content.
#include <sys/stat.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <fstream>

#include "engine/base/private_file.h"
#include "tests/support/temp_dir.h"

namespace {

using ps::FileSecrecy;
using ps::PrivateFileRules;
using ps::read_private_file;

constexpr const char* kContent = "S3CR3T-token-value\n";

std::string write(const ps::testing::TempDir& dir, const std::string& name, mode_t mode,
                  const std::string& text = kContent) {
  const std::string path = dir.file(name);
  std::ofstream(path) << text;
  ::chmod(path.c_str(), mode);
  return path;
}

PrivateFileRules rules(FileSecrecy secrecy) {
  PrivateFileRules r;
  r.secrecy = secrecy;
  return r;
}

void expect_refused(const ps::Result<std::string>& r, const std::string& path,
                    const std::string& why) {
  BOOST_REQUIRE(!r.ok());
  const std::string& m = r.status().message();
  BOOST_TEST(m.find(path) != std::string::npos, m);
  BOOST_TEST(m.find(why) != std::string::npos, m);
  BOOST_TEST(m.find("S3CR3T") == std::string::npos, m);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(private_file)

BOOST_AUTO_TEST_CASE(an_owner_only_file_is_read_whole) {
  ps::testing::TempDir dir;
  const std::string path = write(dir, "token", 0600);
  auto r = read_private_file(path);
  BOOST_REQUIRE_MESSAGE(r.ok(), r.status().message());
  BOOST_TEST(*r == kContent);
}

BOOST_AUTO_TEST_CASE(a_fifo_is_refused_at_once_without_waiting_for_a_writer) {
  ps::testing::TempDir dir;
  const std::string path = dir.file("fifo");
  BOOST_REQUIRE(::mkfifo(path.c_str(), 0600) == 0);
  // Without O_NONBLOCK the open would block forever (no writer): the test would hang.
  for (FileSecrecy s : {FileSecrecy::secret, FileSecrecy::private_key}) {
    expect_refused(read_private_file(path, rules(s)), path, "not a regular file");
  }
}

BOOST_AUTO_TEST_CASE(a_symbolic_link_is_refused_even_to_a_good_file) {
  ps::testing::TempDir dir;
  const std::string target = write(dir, "real", 0600);
  const std::string link = dir.file("link");
  BOOST_REQUIRE(::symlink(target.c_str(), link.c_str()) == 0);
  auto r = read_private_file(link);
  expect_refused(r, link, "symbolic link");
  BOOST_TEST((r.status().code() == ps::Code::invalid_argument));
}

BOOST_AUTO_TEST_CASE(a_directory_is_refused) {
  ps::testing::TempDir dir;
  expect_refused(read_private_file(dir.path()), dir.path(), "not a regular file");
}

BOOST_AUTO_TEST_CASE(a_file_owned_by_another_user_is_refused) {
  ps::testing::TempDir dir;
  const std::string path = write(dir, "token", 0600);
  PrivateFileRules r;
  if (::geteuid() == 0) {
    // As root: give the file away (root itself stays an accepted owner).
    BOOST_REQUIRE(::chown(path.c_str(), 65534, 65534) == 0);
  } else {
    r.owner = ::geteuid() + 1;  // our own file is then "another user's"; root still allowed
  }
  expect_refused(read_private_file(path, r), path, "owned by uid");
}

BOOST_AUTO_TEST_CASE(a_root_owned_file_is_accepted_for_any_process_user) {
  ps::testing::TempDir dir;
  const std::string path = write(dir, "token", 0600);
  if (::geteuid() != 0) return;  // cannot make a root-owned file
  PrivateFileRules r;
  r.owner = 4242;
  BOOST_TEST(read_private_file(path, r).ok());
}

BOOST_AUTO_TEST_CASE(secrets_refuse_any_group_or_other_permission) {
  ps::testing::TempDir dir;
  for (mode_t mode : {0640, 0604, 0620, 0602, 0610, 0601}) {
    const std::string path = write(dir, "s" + std::to_string(mode), mode);
    BOOST_TEST_CONTEXT("mode " << std::oct << mode) {
      expect_refused(read_private_file(path), path, "too open");
    }
  }
  BOOST_TEST(read_private_file(write(dir, "ro", 0400)).ok());
}

BOOST_AUTO_TEST_CASE(private_keys_may_be_group_readable_but_never_group_writable_or_for_others) {
  ps::testing::TempDir dir;
  const auto key = rules(FileSecrecy::private_key);
  BOOST_TEST(read_private_file(write(dir, "k600", 0600), key).ok());
  BOOST_TEST(read_private_file(write(dir, "k640", 0640), key).ok());
  for (mode_t mode : {0660, 0644, 0604, 0602, 0601}) {
    const std::string path = write(dir, "k" + std::to_string(mode), mode);
    BOOST_TEST_CONTEXT("mode " << std::oct << mode) {
      expect_refused(read_private_file(path, key), path, "too open");
    }
  }
}

BOOST_AUTO_TEST_CASE(the_lenient_mode_still_refuses_group_or_other_write) {
  ps::testing::TempDir dir;
  const auto lenient = rules(FileSecrecy::world_readable);
  BOOST_TEST(read_private_file(write(dir, "r644", 0644), lenient).ok());
  for (mode_t mode : {0664, 0646}) {
    const std::string path = write(dir, "w" + std::to_string(mode), mode);
    expect_refused(read_private_file(path, lenient), path, "too open");
  }
}

BOOST_AUTO_TEST_CASE(a_file_over_the_cap_is_refused) {
  ps::testing::TempDir dir;
  PrivateFileRules r;
  r.max_bytes = 1024;
  const std::string path = write(dir, "big", 0600, std::string(1025, 'S'));
  expect_refused(read_private_file(path, r), path, "larger than 1 KiB");
  BOOST_TEST(read_private_file(write(dir, "fits", 0600, std::string(1024, 'x')), r).ok());
}

BOOST_AUTO_TEST_CASE(a_missing_file_is_not_found_naming_the_path) {
  ps::testing::TempDir dir;
  auto r = read_private_file(dir.file("nope"));
  BOOST_REQUIRE(!r.ok());
  BOOST_TEST((r.status().code() == ps::Code::not_found));
  BOOST_TEST(r.status().message().find(dir.file("nope")) != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
