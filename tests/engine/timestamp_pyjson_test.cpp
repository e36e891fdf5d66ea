// ISO-8601 parsing/formatting and Python-identical JSON.
#include <boost/test/unit_test.hpp>

#include "engine/rules/pyjson.h"
#include "engine/rules/timestamp.h"

using namespace ps::engine;

BOOST_AUTO_TEST_SUITE(timestamp)

BOOST_AUTO_TEST_CASE(accepts_z_offsets_fractions_and_normalises_to_utc) {
  const auto base = parse_iso8601("2026-11-25T10:15:30Z");
  BOOST_REQUIRE(base);
  BOOST_TEST(format_isoformat_utc(*base) == "2026-11-25T10:15:30+00:00");
  BOOST_TEST(format_isoformat_utc(*parse_iso8601("2026-11-25T12:15:30+02:00")) ==
             "2026-11-25T10:15:30+00:00");
  BOOST_TEST(format_isoformat_utc(*parse_iso8601("2026-11-25T05:45:30-0430")) ==
             "2026-11-25T10:15:30+00:00");
  BOOST_TEST(format_isoformat_utc(*parse_iso8601("2026-11-25 10:15:30.5")) ==
             "2026-11-25T10:15:30.500000+00:00");
  BOOST_TEST(format_isoformat_utc(*parse_iso8601("2026-11-25T10:15:30.123456789+00:00")) ==
             "2026-11-25T10:15:30.123456+00:00");
  BOOST_TEST(format_isoformat_utc(*parse_iso8601("2026-11-25")) == "2026-11-25T00:00:00+00:00");
  BOOST_TEST(format_isoformat_utc(*parse_iso8601("2024-02-29T23:59")) ==
             "2024-02-29T23:59:00+00:00");
  BOOST_TEST(format_isoformat_utc(*parse_iso8601("2026-01-01T00:30:00+01:00")) ==
             "2025-12-31T23:30:00+00:00");
}

BOOST_AUTO_TEST_CASE(refuses_malformed_and_out_of_range_times) {
  for (const char* bad : {"", "now", "2026-11-25T", "2026-13-01", "2026-02-29", "2026-11-25T24:00",
                          "2026-11-25T10:60", "2026-11-25T10:15:30+25:00", "2026-11-25T10:15:30.",
                          "2026-11-25T10:15:30 garbage", "26-11-25", "2026/11/25"}) {
    BOOST_TEST(!parse_iso8601(bad), bad);
  }
}

// Regression (found by tests/fuzz/engine/rules/timestamp_fuzz.cpp): a date outside what the
// nanosecond WallTime holds (Python's datetime.min, year 9999, in a hand-edited ledger)
// overflowed a signed 64-bit multiplication (undefined behaviour) instead of being refused.
BOOST_AUTO_TEST_CASE(refuses_dates_the_wall_clock_cannot_hold_instead_of_overflowing) {
  BOOST_TEST(!parse_iso8601("0001-01-01T00:00:00+00:00"));
  BOOST_TEST(!parse_iso8601("0001-01-01T00:00:00-23:59"));
  BOOST_TEST(!parse_iso8601("9999-12-31T23:59:59.999999+00:00"));
  BOOST_TEST(!parse_iso8601("1677-09-21"));
  BOOST_TEST(!parse_iso8601("2262-04-12"));
  // The last whole days inside the range still parse and round-trip.
  const auto early = parse_iso8601("1677-09-23T00:00:00+00:00");
  BOOST_REQUIRE(early);
  BOOST_TEST(format_isoformat_utc(*early) == "1677-09-23T00:00:00+00:00");
  const auto late = parse_iso8601("2262-04-10T23:59:59.999999+00:00");
  BOOST_REQUIRE(late);
  BOOST_TEST(format_isoformat_utc(*late) == "2262-04-10T23:59:59.999999+00:00");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(pyjson)

BOOST_AUTO_TEST_CASE(escapes_strings_like_python_ensure_ascii) {
  std::string out;
  append_py_json_string(out, "a\"b\\c\n\t\x01\x7f/\xC3\xA9\xF0\x9F\x98\x80");
  BOOST_TEST(out == "\"a\\\"b\\\\c\\n\\t\\u0001\\u007f/\\u00e9\\ud83d\\ude00\"");
  out.clear();
  append_py_json_string(out, "bad\xFF");
  BOOST_TEST(out == "\"bad\\ufffd\"");
}

BOOST_AUTO_TEST_CASE(floats_use_python_repr) {
  BOOST_TEST(py_float_repr(1.0) == "1.0");
  BOOST_TEST(py_float_repr(2.5) == "2.5");
  BOOST_TEST(py_float_repr(1e16) == "1e+16");
  BOOST_TEST(py_float_repr(1e15) == "1000000000000000.0");
  BOOST_TEST(py_float_repr(0.0001) == "0.0001");
  BOOST_TEST(py_float_repr(1.5e-05) == "1.5e-05");
  BOOST_TEST(py_float_repr(-0.0) == "-0.0");
  BOOST_TEST(py_float_repr(123456789012345678.0) == "1.2345678901234568e+17");
  BOOST_TEST(py_str(SqlValue{}) == "None");
}

BOOST_AUTO_TEST_CASE(indent2_and_compact_match_json_dumps) {
  std::string out;
  {
    PyJsonWriter w(out, PyJsonWriter::Style::indent2);
    w.begin_object();
    w.key("a");
    w.begin_object();
    w.end_object();
    w.key("b");
    w.begin_array();
    w.integer(1);
    w.null();
    w.end_array();
    w.key("c");
    w.begin_array();
    w.end_array();
    w.end_object();
  }
  BOOST_TEST(out == "{\n  \"a\": {},\n  \"b\": [\n    1,\n    null\n  ],\n  \"c\": []\n}");
  out.clear();
  {
    PyJsonWriter w(out, PyJsonWriter::Style::compact);
    w.begin_object();
    w.key("a");
    w.begin_array();
    w.string("x");
    w.boolean(true);
    w.end_array();
    w.key("b");
    w.real(0.5);
    w.end_object();
  }
  BOOST_TEST(out == "{\"a\": [\"x\", true], \"b\": 0.5}");
}

BOOST_AUTO_TEST_SUITE_END()
