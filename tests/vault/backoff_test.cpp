// Backoff: exact delays with fixed random values (full jitter, doubling, cap).
#include <boost/test/unit_test.hpp>

#include "vault/backoff.h"

namespace ps::vault {
namespace {

using ms = std::chrono::milliseconds;

RandomSource fixed(double v) {
  return [v] { return v; };
}

std::vector<long> take(Backoff& b, int n) {
  std::vector<long> out;
  for (int i = 0; i < n; ++i) out.push_back(static_cast<long>(b.next().count()));
  return out;
}

BOOST_AUTO_TEST_SUITE(vault_backoff)

BOOST_AUTO_TEST_CASE(defaults_double_from_one_second_to_five_minutes) {
  BackoffPolicy p;
  BOOST_TEST(p.initial.count() == 1000);
  BOOST_TEST(p.multiplier == 2.0);
  BOOST_TEST(p.cap.count() == 300000);
  BOOST_TEST(p.max_total.count() == 0);
  BOOST_TEST(p.max_attempts == 0u);
  Backoff b(p, fixed(0.999999));
  std::vector<long> expected = {999, 1999, 3999, 7999, 15999, 31999, 63999, 127999, 255999,
                                299999, 299999};
  BOOST_TEST(take(b, 11) == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(full_jitter_scales_the_ceiling_by_the_random_value) {
  BackoffPolicy p;
  Backoff half(p, fixed(0.5));
  std::vector<long> expected = {500, 1000, 2000, 4000};
  BOOST_TEST(take(half, 4) == expected, boost::test_tools::per_element());
  Backoff zero(p, fixed(0.0));
  BOOST_TEST(zero.next().count() == 0);
  BOOST_TEST(zero.retries() == 1u);
}

BOOST_AUTO_TEST_CASE(random_values_out_of_range_are_clamped) {
  BackoffPolicy p;
  Backoff high(p, fixed(7.0));
  BOOST_TEST(high.next().count() == 1000);
  Backoff low(p, fixed(-3.0));
  BOOST_TEST(low.next().count() == 0);
}

BOOST_AUTO_TEST_CASE(custom_multiplier_and_cap) {
  BackoffPolicy p;
  p.initial = ms{100};
  p.multiplier = 3.0;
  p.cap = ms{1000};
  Backoff b(p, fixed(1.0));
  std::vector<long> expected = {100, 300, 900, 1000, 1000};
  BOOST_TEST(take(b, 5) == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(reset_starts_again_from_initial) {
  Backoff b(BackoffPolicy{}, fixed(0.5));
  take(b, 6);
  b.reset();
  BOOST_TEST(b.retries() == 0u);
  BOOST_TEST(b.next().count() == 500);
}

BOOST_AUTO_TEST_CASE(ceiling_never_overflows_after_many_retries) {
  Backoff b(BackoffPolicy{}, fixed(1.0));
  BOOST_TEST(b.ceiling(5000).count() == 300000);
  for (int i = 0; i < 10000; ++i) b.next();
  BOOST_TEST(b.next().count() == 300000);
}

BOOST_AUTO_TEST_CASE(validate_names_the_broken_knob) {
  BOOST_TEST(BackoffPolicy{}.validate().ok());
  BackoffPolicy p;
  p.initial = ms{0};
  BOOST_TEST(p.validate().message().find("retry.initial") != std::string::npos);
  p = BackoffPolicy{};
  p.multiplier = 0.5;
  BOOST_TEST(p.validate().message().find("retry.multiplier") != std::string::npos);
  p = BackoffPolicy{};
  p.cap = ms{10};
  BOOST_TEST(p.validate().message().find("retry.cap") != std::string::npos);
  p = BackoffPolicy{};
  p.max_total = ms{-1};
  BOOST_TEST(p.validate().message().find("retry.max_total") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace ps::vault
