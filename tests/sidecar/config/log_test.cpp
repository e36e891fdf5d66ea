#include "tests/support/simulated_clock.h"
#include "sidecar/config/log.h"

#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include <string>
#include <thread>
#include <vector>

using ps::LogLevel;
using ps::sidecar::LogFormat;
using ps::sidecar::Logger;

namespace {
struct Captured {
  std::vector<std::string> lines;
  Logger::Sink sink() {
    return [this](std::string_view l) { lines.emplace_back(l); };
  }
};
}  // namespace

BOOST_AUTO_TEST_SUITE(logger)

BOOST_AUTO_TEST_CASE(json_lines_carry_time_level_event_message_and_fields) {
  ps::SimulatedClock clock;
  Captured out;
  Logger log(out.sink(), clock);
  log.info("sync.pushed", "policies written", {{"agent", "a1"}, {"generation", 3}});
  BOOST_REQUIRE_EQUAL(out.lines.size(), 1u);
  auto j = nlohmann::json::parse(out.lines[0]);
  BOOST_TEST(j["level"] == "info");
  BOOST_TEST(j["event"] == "sync.pushed");
  BOOST_TEST(j["msg"] == "policies written");
  BOOST_TEST(j["agent"] == "a1");
  BOOST_TEST(j["generation"] == 3);
  BOOST_TEST(j["ts"] == "2027-01-15T08:00:00.000Z");
}

BOOST_AUTO_TEST_CASE(levels_below_the_minimum_are_dropped_and_level_changes_at_runtime) {
  ps::SimulatedClock clock;
  Captured out;
  Logger log(out.sink(), clock, LogLevel::warn);
  log.info("a", "dropped");
  log.warn("b", "kept");
  log.set_level(LogLevel::debug);
  log.debug("c", "kept too");
  BOOST_REQUIRE_EQUAL(out.lines.size(), 2u);
  BOOST_TEST(nlohmann::json::parse(out.lines[1])["event"] == "c");
}

BOOST_AUTO_TEST_CASE(text_format_is_one_line_even_with_newlines_in_the_message) {
  ps::SimulatedClock clock;
  Captured out;
  Logger log(out.sink(), clock, LogLevel::info, LogFormat::text);
  log.error("vault.error", "1 error occurred:\n\t* permission denied\n\n", {{"role", "agent-a b"}});
  BOOST_REQUIRE_EQUAL(out.lines.size(), 1u);
  BOOST_TEST(out.lines[0].find('\n') == std::string::npos);
  BOOST_TEST(out.lines[0].find("ERROR vault.error: 1 error occurred:") != std::string::npos);
  BOOST_TEST(out.lines[0].find("role=\"agent-a b\"") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(reserved_field_names_do_not_overwrite_the_envelope) {
  ps::SimulatedClock clock;
  Captured out;
  Logger log(out.sink(), clock);
  log.info("real.event", "m", {{"event", "spoofed"}});
  auto j = nlohmann::json::parse(out.lines.at(0));
  BOOST_TEST(j["event"] == "real.event");
  BOOST_TEST(j["field.event"] == "spoofed");
}

BOOST_AUTO_TEST_CASE(invalid_utf8_in_a_field_does_not_throw) {
  ps::SimulatedClock clock;
  Captured out;
  Logger log(out.sink(), clock);
  BOOST_CHECK_NO_THROW(log.warn("e", "m", {{"agent", std::string("\xff\xfe")}}));
  BOOST_TEST(out.lines.size() == 1u);
}

BOOST_AUTO_TEST_CASE(lines_from_many_threads_never_interleave) {
  ps::SimulatedClock clock;
  std::vector<std::string> lines;
  Logger log([&](std::string_view l) { lines.emplace_back(l); }, clock);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&log, t] {
      for (int i = 0; i < 500; ++i) log.info("t", "line", {{"t", t}, {"i", i}});
    });
  }
  for (auto& th : threads) th.join();
  BOOST_REQUIRE_EQUAL(lines.size(), 2000u);
  for (const auto& l : lines) BOOST_TEST(nlohmann::json::accept(l));
}

BOOST_AUTO_TEST_CASE(log_fn_adapter_names_the_component) {
  ps::SimulatedClock clock;
  Captured out;
  Logger log(out.sink(), clock);
  ps::LogFn fn = log.as_log_fn("tls");
  fn(LogLevel::warn, "skip_verify is on");
  auto j = nlohmann::json::parse(out.lines.at(0));
  BOOST_TEST(j["event"] == "tls");
  BOOST_TEST(j["level"] == "warn");
}

BOOST_AUTO_TEST_SUITE_END()
