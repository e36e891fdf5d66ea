// tls/digest.h: strict base64.
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include "tls/digest.h"

BOOST_AUTO_TEST_SUITE(digest)

BOOST_AUTO_TEST_CASE(strict_base64_round_trips_and_refuses_misplaced_padding) {
  for (const std::string& s : std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff\x10", 3)}) {
    BOOST_TEST(*ps::tls::base64_decode(ps::tls::base64_encode(s)) == s);
  }
  BOOST_TEST(!ps::tls::base64_decode("YQ=").has_value());
  BOOST_TEST(!ps::tls::base64_decode("Y===").has_value());
  BOOST_TEST(!ps::tls::base64_decode("YQ==YQ==").has_value());
  BOOST_TEST(!ps::tls::base64_decode("Y=Q=").has_value());
}

BOOST_AUTO_TEST_SUITE_END()
