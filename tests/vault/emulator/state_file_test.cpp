// --state files: atomic save, load, refusal of broken files, the saver's final save.
#include <boost/test/unit_test.hpp>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "tests/vault/emulator/emulator_fixture.h"
#include "tests/support/temp_dir.h"
#include "vault/emulator/state_file.h"

using namespace ps::vault::emulator;
using namespace ps::vault::emulator::testing;
using ps::testing::TempDir;

BOOST_AUTO_TEST_SUITE(emulator_state_file)

BOOST_AUTO_TEST_CASE(a_saved_file_loads_into_a_fresh_emulator_and_is_private) {
  TempDir dir;
  Vault a;
  a.post("/v1/auth/approle/role/agent-1", {{"token_policies", "x"}});
  ps::Status saved = save_state_file(a.emu, dir.file("s.json"));
  BOOST_REQUIRE_MESSAGE(saved.ok(), saved.message());
  struct stat st{};
  BOOST_REQUIRE(stat(dir.file("s.json").c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 0777) == 0600u);
  BOOST_TEST(!std::filesystem::exists(dir.file("s.json.tmp")));
  Vault b;
  auto loaded = load_state_file(b.emu, dir.file("s.json"));
  BOOST_REQUIRE_MESSAGE(loaded.ok(), loaded.status().message());
  BOOST_TEST(*loaded);
  BOOST_TEST(b.get("/v1/auth/approle/role/agent-1").body["data"]["token_policies"] == json({"x"}));
}

BOOST_AUTO_TEST_CASE(a_missing_file_is_not_an_error_and_a_broken_one_is) {
  TempDir dir;
  Vault v;
  auto loaded = load_state_file(v.emu, dir.file("none.json"));
  BOOST_REQUIRE(loaded.ok());
  BOOST_TEST(!*loaded);
  std::ofstream(dir.file("bad.json")) << "[1, 2";
  loaded = load_state_file(v.emu, dir.file("bad.json"));
  BOOST_REQUIRE(!loaded.ok());
  BOOST_TEST(loaded.status().message().find("bad.json") != std::string::npos);
  BOOST_TEST(!save_state_file(v.emu, dir.file("no/such/dir/s.json")).ok());
}

BOOST_AUTO_TEST_CASE(the_saver_writes_a_new_file_at_stop_and_later_changes_too) {
  TempDir dir;
  Vault v;
  {
    StateSaver saver(v.emu, dir.file("s.json"), nullptr);
    saver.start();
    BOOST_TEST(saver.stop());
  }
  BOOST_TEST(std::filesystem::exists(dir.file("s.json")));
  v.post("/v1/auth/approle/role/late", json::object());
  {
    StateSaver saver(v.emu, dir.file("s.json"), nullptr);
    saver.start();
    v.post("/v1/auth/approle/role/later", json::object());
    BOOST_TEST(saver.stop());
  }
  Vault b;
  BOOST_REQUIRE(load_state_file(b.emu, dir.file("s.json")).ok());
  BOOST_TEST(b.get("/v1/auth/approle/role/later").status == 200);
}

BOOST_AUTO_TEST_SUITE_END()
