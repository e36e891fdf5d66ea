// The configuration file: sections, validation errors naming the key path, rules merging.
#include <boost/test/unit_test.hpp>
#include <fstream>

#include "engine/rules/evaluation_json.h"
#include "sidecar/config/config.h"
#include "tests/support/engine_printers.h"
#include "tests/support/test_support.h"

using ps::Code;
using ps::Result;
using ps::Status;

using namespace ps::sidecar;

namespace {

std::string error_of(const std::string& text) {
  auto c = parse_config(text, "test.json");
  BOOST_TEST(!c.ok());
  BOOST_TEST(c.status().code() == Code::invalid_argument);
  return c.status().message();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(config)

BOOST_AUTO_TEST_CASE(empty_object_gives_the_defaults) {
  auto c = parse_config("{}", "x");
  BOOST_REQUIRE(c.ok());
  BOOST_TEST(!c->ledger.path);
  BOOST_TEST(c->ledger.busy_timeout_ms == 5000);
  BOOST_TEST(c->ledger.scan_threads == 0u);
  std::string a, b;
  ps::engine::PyJsonWriter wa(a, ps::engine::PyJsonWriter::Style::compact);
  ps::engine::PyJsonWriter wb(b, ps::engine::PyJsonWriter::Style::compact);
  ps::engine::write_requirements(wa, *c->rules.for_tier(2));
  ps::engine::write_requirements(wb, *ps::engine::Rules::defaults().for_tier(2));
  BOOST_TEST(a == b);
}

BOOST_AUTO_TEST_CASE(ledger_and_rules_sections_are_read) {
  auto c = parse_config(R"({"ledger": {"path": "/srv/l.db", "busy_timeout_ms": 250, "scan_threads": 3},
                            "rules": {"1": {"min_compliant_runs": 20}}})", "x");
  BOOST_REQUIRE_MESSAGE(c.ok(), c.status().message());
  BOOST_TEST(*c->ledger.path == "/srv/l.db");
  BOOST_TEST(c->ledger.busy_timeout_ms == 250);
  BOOST_TEST(c->ledger.scan_threads == 3u);
  BOOST_TEST(c->rules.for_tier(1)->get_int(ps::engine::RequirementKey::min_compliant_runs, 0) == 20);
  BOOST_TEST(c->rules.for_tier(1)->get_int(ps::engine::RequirementKey::min_consecutive_compliant, 0) == 5);
}

BOOST_AUTO_TEST_CASE(validation_errors_name_the_key_path) {
  BOOST_TEST(error_of(R"({"rules": {"1": {"min_compliant_runs": -1}}})") ==
             "config: rules.\"1\".min_compliant_runs: must be a non-negative integer");
  BOOST_TEST(error_of(R"({"rules": {"7": {}}})").find("config: rules.\"7\": unknown tier") == 0u);
  BOOST_TEST(error_of(R"({"rules": {"0": {"min_run": 1}}})").find("config: rules.\"0\".min_run: unknown key") == 0u);
  BOOST_TEST(error_of(R"({"ledger": {"busy_timeout_ms": -5}})") ==
             "config: ledger.busy_timeout_ms: must be a non-negative integer (milliseconds)");
  BOOST_TEST(error_of(R"({"ledger": {"busy_timeout_ms": "5s"}})") ==
             "config: ledger.busy_timeout_ms: must be a non-negative integer (milliseconds)");
  BOOST_TEST(error_of(R"({"ledger": {"path": ""}})") == "config: ledger.path: must be a non-empty string");
  for (const char* bad : {"-1", "65", "\"2\"", "1.5", "null"}) {
    BOOST_TEST(error_of(std::string(R"({"ledger": {"scan_threads": )") + bad + "}}") ==
                   "config: ledger.scan_threads: must be an integer from 0 (one per CPU) to 64",
               bad);
  }
  BOOST_TEST(error_of(R"({"ledger": {"file": "x"}})").find("config: ledger.file: unknown key") == 0u);
  BOOST_TEST(error_of(R"({"ledger": []})") == "config: ledger: must be an object");
  BOOST_TEST(error_of(R"({"vaultt": {}})").find("config: vaultt: unknown section (known: ledger, rules") == 0u);
}

BOOST_AUTO_TEST_CASE(syntax_errors_give_line_and_column_not_library_text) {
  BOOST_TEST(error_of("{\n  \"ledger\": {,}\n}") == "config: test.json: invalid JSON at line 2, column 14");
  BOOST_TEST(error_of("") == "config: test.json: invalid JSON at line 1, column 1");
  BOOST_TEST(error_of("[1, 2]") == "config: test.json: must be a JSON object");
}

// Regression (found by tests/fuzz/sidecar/config/config_fuzz.cpp): a number beyond a double made
// the JSON parser throw out_of_range, which escaped parse_config and aborted the process.
BOOST_AUTO_TEST_CASE(a_number_beyond_a_double_is_an_error_not_an_abort) {
  BOOST_TEST(error_of(R"({"vault": {"timeout_s": 1e818}})") ==
             "config: test.json: a number is out of range");
  BOOST_TEST(error_of(R"({"ledger": {"busy_timeout_ms": -1e400}})") ==
             "config: test.json: a number is out of range");
}

BOOST_AUTO_TEST_CASE(comments_are_allowed_so_examples_can_explain_themselves) {
  auto c = parse_config("// the ledger\n{\n  \"ledger\": { /* ms */ \"busy_timeout_ms\": 250 }  // ok\n}",
                        "x");
  BOOST_REQUIRE_MESSAGE(c.ok(), c.status().message());
  BOOST_TEST(c->ledger.busy_timeout_ms == 250);
  BOOST_TEST(error_of("{ /* never closed }").find("invalid JSON at line 1") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(missing_file_is_reported_with_its_path) {
  ps::testing::TempDir dir;
  auto c = load_config_file(dir.file("none.json"));
  BOOST_TEST(c.status().message() == "config: cannot read " + dir.file("none.json") +
                                         ": No such file or directory");
  std::ofstream(dir.file("ok.json")) << R"({"ledger": {"busy_timeout_ms": 7}})";
  auto ok = load_config_file(dir.file("ok.json"));
  BOOST_REQUIRE(ok.ok());
  BOOST_TEST(ok->ledger.busy_timeout_ms == 7);
}

BOOST_AUTO_TEST_SUITE_END()
