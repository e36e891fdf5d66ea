// The audit file: append-only JSON lines, durable per record, complete lines under
// concurrency, private mode, never rewritten.
#include <sys/stat.h>

#include <boost/test/unit_test.hpp>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <atomic>
#include <thread>

#include "tests/support/simulated_clock.h"
#include "sidecar/server/audit.h"
#include "tests/support/test_support.h"

using namespace ps::sidecar::server;

namespace {

std::vector<nlohmann::json> read_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<nlohmann::json> out;
  std::string line;
  while (std::getline(in, line)) out.push_back(nlohmann::json::parse(line));
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(audit)

BOOST_AUTO_TEST_CASE(records_are_json_lines_with_time_and_event_first) {
  ps::testing::TempDir dir;
  ps::SimulatedClock clock;
  auto log = AuditLog::open(dir.file("audit.jsonl"), clock);
  BOOST_REQUIRE(log.ok());
  BOOST_TEST((*log)->record("promotion", {{"agent_id", "a1"}, {"to_tier", 2}}).ok());
  BOOST_TEST((*log)->record("webhook.rejected", {{"reason", "signature"}, {"event", "spoof"}}).ok());
  std::ifstream in(dir.file("audit.jsonl"));
  std::string first;
  std::getline(in, first);
  BOOST_TEST(first.find("{\"ts\":\"2027-01-15T08:00:00+00:00\",\"event\":\"promotion\"") == 0u, first);
  auto lines = read_lines(dir.file("audit.jsonl"));
  BOOST_REQUIRE(lines.size() == 2u);
  BOOST_TEST(lines[1]["event"] == "webhook.rejected");  // a field cannot override the event
  BOOST_TEST((*log)->records_written() == 2u);
}

BOOST_AUTO_TEST_CASE(reopening_appends_and_the_file_is_private) {
  ps::testing::TempDir dir;
  ps::SimulatedClock clock;
  const std::string path = dir.file("audit.jsonl");
  {
    auto log = AuditLog::open(path, clock);
    BOOST_REQUIRE(log.ok());
    BOOST_TEST((*log)->record("denial", {{"n", 1}}).ok());
  }
  {
    auto log = AuditLog::open(path, clock);
    BOOST_REQUIRE(log.ok());
    BOOST_TEST((*log)->record("denial", {{"n", 2}}).ok());
  }
  auto lines = read_lines(path);
  BOOST_REQUIRE(lines.size() == 2u);
  BOOST_TEST(lines[0]["n"] == 1);
  BOOST_TEST(lines[1]["n"] == 2);
  struct stat st {};
  BOOST_REQUIRE(stat(path.c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 0777) == 0600u);
}

BOOST_AUTO_TEST_CASE(concurrent_records_are_all_complete_lines) {
  ps::testing::TempDir dir;
  ps::RealClock clock;
  auto log = AuditLog::open(dir.file("audit.jsonl"), clock);
  BOOST_REQUIRE(log.ok());
  std::vector<std::thread> threads;
  std::atomic<int> failed{0};  // Boost.Test assertions are not thread-safe: count, check after
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        if (!(*log)->record("promotion", {{"t", t}, {"i", i}, {"pad", std::string(500, 'x')}}).ok()) {
          ++failed;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  BOOST_TEST(failed.load() == 0);
  auto lines = read_lines(dir.file("audit.jsonl"));  // throws on a torn line
  BOOST_TEST(lines.size() == 200u);
}

BOOST_AUTO_TEST_CASE(reopen_after_a_rename_continues_in_a_new_file) {
  ps::testing::TempDir dir;
  ps::SimulatedClock clock;
  const std::string path = dir.file("audit.jsonl");
  auto log = AuditLog::open(path, clock);
  BOOST_REQUIRE(log.ok());
  BOOST_TEST((*log)->record("denial", {{"n", 1}}).ok());
  BOOST_REQUIRE(std::rename(path.c_str(), dir.file("audit.jsonl.1").c_str()) == 0);
  BOOST_TEST((*log)->record("denial", {{"n", 2}}).ok());  // still the renamed file
  BOOST_TEST((*log)->reopen().ok());
  BOOST_TEST((*log)->record("denial", {{"n", 3}}).ok());
  BOOST_TEST(read_lines(dir.file("audit.jsonl.1")).size() == 2u);
  auto fresh = read_lines(path);
  BOOST_REQUIRE(fresh.size() == 1u);
  BOOST_TEST(fresh[0]["n"] == 3);
}

BOOST_AUTO_TEST_CASE(unwritable_location_is_reported_with_the_path) {
  ps::SimulatedClock clock;
  auto log = AuditLog::open("/nonexistent-dir/audit.jsonl", clock);
  BOOST_TEST(!log.ok());
  BOOST_TEST(log.status().message().find("/nonexistent-dir/audit.jsonl") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
