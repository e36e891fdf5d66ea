// Secret files (token sink, role-id, secret-id): trimming, refusal reasons without content,
// and change detection for Vault Agent's rename-into-place writes.
#include <boost/test/unit_test.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include "tests/vault/test_support.h"
#include "vault/secret_file.h"

namespace ps::vault {
namespace {

using namespace ps::vault::testing;

BOOST_AUTO_TEST_SUITE(vault_secret_files)

BOOST_AUTO_TEST_CASE(bare_token_with_or_without_trailing_newline) {
  TempDir dir;
  write_file(dir.file("a"), "hvs.abc");
  write_file(dir.file("b"), "hvs.abc\n");
  write_file(dir.file("c"), "  hvs.abc\r\n\n");
  for (const char* f : {"a", "b", "c"}) {
    auto s = read_secret_file(dir.file(f), false);
    BOOST_REQUIRE(s.ok());
    BOOST_TEST(s->reveal() == "hvs.abc");
  }
}

BOOST_AUTO_TEST_CASE(unusable_files_are_refused_without_showing_content) {
  TempDir dir;
  write_file(dir.file("empty"), "\n");
  write_file(dir.file("binary"), std::string("hvs.s3cr3t\x01zz", 13));
  write_file(dir.file("spaces"), "hvs.s3cr3t more");
  auto missing = read_secret_file(dir.file("missing"), false);
  BOOST_REQUIRE(!missing.ok());
  BOOST_TEST(missing.error().message.find("missing") != std::string::npos);
  BOOST_TEST(to_string(missing.error().code) == "auth_unavailable");
  BOOST_TEST(to_string(missing.error().action) == "retry");
  BOOST_TEST(!read_secret_file(dir.file("empty"), false).ok());
  for (const char* f : {"binary", "spaces"}) {
    auto r = read_secret_file(dir.file(f), false);
    BOOST_REQUIRE(!r.ok());
    BOOST_TEST(r.error().message.find("s3cr3t") == std::string::npos);
  }
  BOOST_TEST(!read_secret_file(dir.path(), false).ok());  // a directory
  write_file(dir.file("huge"), std::string(70 * 1024, 'a'));
  BOOST_TEST(!read_secret_file(dir.file("huge"), false).ok());
}

BOOST_AUTO_TEST_CASE(group_or_world_access_is_refused_when_required) {
  TempDir dir;
  write_file(dir.file("t"), "hvs.abc");
  ::chmod(dir.file("t").c_str(), 0640);
  BOOST_TEST(read_secret_file(dir.file("t"), false).ok());
  BOOST_TEST(!read_secret_file(dir.file("t"), true).ok());
  ::chmod(dir.file("t").c_str(), 0600);
  BOOST_TEST(read_secret_file(dir.file("t"), true).ok());
}

BOOST_AUTO_TEST_CASE(file_watch_notices_rename_rewrite_and_removal) {
  TempDir dir;
  const std::string path = dir.file("sink");
  write_file(path, "hvs.one");
  FileWatch watch(path);
  BOOST_TEST(watch.changed());  // never looked at
  watch.remember();
  BOOST_TEST(!watch.changed());
  replace_file(path, "hvs.two");  // same size, new inode
  BOOST_TEST(watch.changed());
  watch.remember();
  write_file(path, "hvs.three");  // rewritten in place, new size
  BOOST_TEST(watch.changed());
  watch.remember();
  std::filesystem::remove(path);
  BOOST_TEST(watch.changed());
}

BOOST_AUTO_TEST_CASE(a_fifo_or_symlink_or_group_writable_file_is_refused_at_once) {
  TempDir dir;
  const std::string fifo = dir.file("fifo");
  BOOST_REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  for (bool require_private : {false, true}) {
    auto r = read_secret_file(fifo, require_private);  // would block without O_NONBLOCK
    BOOST_REQUIRE(!r.ok());
    BOOST_TEST(r.error().message.find("not a regular file") != std::string::npos);
  }
  write_file(dir.file("t"), "hvs.s3cr3t");
  ::chmod(dir.file("t").c_str(), 0600);
  BOOST_REQUIRE(::symlink(dir.file("t").c_str(), dir.file("l").c_str()) == 0);
  auto linked = read_secret_file(dir.file("l"), true);
  BOOST_REQUIRE(!linked.ok());
  BOOST_TEST(linked.error().message.find("symbolic link") != std::string::npos);
  ::chmod(dir.file("t").c_str(), 0620);
  auto writable = read_secret_file(dir.file("t"), false);
  BOOST_REQUIRE(!writable.ok());
  BOOST_TEST(writable.error().message.find("s3cr3t") == std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()


}  // namespace
}  // namespace ps::vault
