// Standard Webhooks verification: the specification's test vector, rotation, tampering,
// timestamp tolerance in both directions.
#include <sys/stat.h>

#include <boost/test/unit_test.hpp>
#include <fstream>

#include "sidecar/server/webhook_signature.h"
#include "tls/digest.h"
#include "tests/support/test_support.h"

using namespace ps::sidecar;
using namespace ps::sidecar::server;

namespace {

// The reference vector of the Standard Webhooks specification.
constexpr const char* kSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
constexpr const char* kId = "msg_p5jXN8AQM9LWM0D4loKWxJek";
constexpr const char* kTs = "1614265330";
constexpr std::int64_t kNow = 1614265330;
constexpr const char* kBody = "{\"test\": 2432232314}";
constexpr const char* kSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

std::vector<WebhookSecret> secrets(std::initializer_list<const char*> texts) {
  std::vector<WebhookSecret> out;
  for (const char* t : texts) out.push_back(WebhookSecret::parse(t).value());
  return out;
}

SignatureVerdict check(std::string_view signature, std::int64_t now = kNow,
                       std::string_view body = kBody, std::string_view ts = kTs,
                       std::string_view id = kId) {
  return verify_webhook({id, ts, signature, body}, secrets({kSecret}), now, 300);
}

}  // namespace

namespace ps::sidecar::server {
std::ostream& operator<<(std::ostream& os, SignatureVerdict v) { return os << verdict_reason(v); }
}  // namespace ps::sidecar::server

BOOST_AUTO_TEST_SUITE(webhook_signature)

BOOST_AUTO_TEST_CASE(signs_and_verifies_the_specification_test_vector) {
  BOOST_TEST(sign_webhook(secrets({kSecret})[0], kId, kTs, kBody) == kSignature);
  BOOST_TEST(check(kSignature) == SignatureVerdict::ok);
}

BOOST_AUTO_TEST_CASE(any_v1_entry_under_any_active_secret_is_accepted) {
  const auto two = secrets({"whsec_c2VjcmV0LW9mLWEtcm90YXRlZC1lbmRwb2ludA==", kSecret});
  BOOST_TEST(verify_webhook({kId, kTs, kSignature, kBody}, two, kNow, 300) == SignatureVerdict::ok);
  const std::string several = std::string("v1a,AAAA v1,") +
                              "bm90IGEgc2lnbmF0dXJlIG9mIDMyIGJ5dGVzIS4uLi4=" + " " + kSignature;
  BOOST_TEST(check(several) == SignatureVerdict::ok);
}

BOOST_AUTO_TEST_CASE(tampered_body_id_timestamp_or_wrong_secret_are_refused) {
  BOOST_TEST(check(kSignature, kNow, "{\"test\": 2432232315}") == SignatureVerdict::no_valid_signature);
  BOOST_TEST(check(kSignature, kNow, "{\"test\": 243223231") == SignatureVerdict::no_valid_signature);
  BOOST_TEST(check(kSignature, kNow, kBody, kTs, "msg_other") == SignatureVerdict::no_valid_signature);
  BOOST_TEST(check(kSignature, kNow, kBody, "1614265331") == SignatureVerdict::no_valid_signature);
  const auto other = secrets({"whsec_c2VjcmV0LW9mLWEtcm90YXRlZC1lbmRwb2ludA=="});
  BOOST_TEST(verify_webhook({kId, kTs, kSignature, kBody}, other, kNow, 300) ==
             SignatureVerdict::no_valid_signature);
}

BOOST_AUTO_TEST_CASE(only_v1_entries_with_a_32_byte_digest_count) {
  const std::string digest = std::string(kSignature).substr(3);
  BOOST_TEST(check("v2," + digest) == SignatureVerdict::no_valid_signature);
  BOOST_TEST(check(digest) == SignatureVerdict::no_valid_signature);
  BOOST_TEST(check("v1," + digest.substr(0, 40)) == SignatureVerdict::no_valid_signature);
  BOOST_TEST(check("v1,!!!!" + digest.substr(4)) == SignatureVerdict::no_valid_signature);
  BOOST_TEST(check("v1,") == SignatureVerdict::no_valid_signature);
}

BOOST_AUTO_TEST_CASE(timestamps_outside_the_tolerance_are_refused_in_both_directions) {
  BOOST_TEST(check(kSignature, kNow + 300) == SignatureVerdict::ok);
  BOOST_TEST(check(kSignature, kNow - 300) == SignatureVerdict::ok);
  BOOST_TEST(check(kSignature, kNow + 301) == SignatureVerdict::stale);
  BOOST_TEST(check(kSignature, kNow - 301) == SignatureVerdict::future);
}

BOOST_AUTO_TEST_CASE(missing_headers_and_malformed_timestamps_are_refused_before_any_hmac) {
  BOOST_TEST(check(kSignature, kNow, kBody, kTs, "") == SignatureVerdict::missing_headers);
  BOOST_TEST(check(kSignature, kNow, kBody, "") == SignatureVerdict::missing_headers);
  BOOST_TEST(check("") == SignatureVerdict::missing_headers);
  BOOST_TEST(check(kSignature, kNow, kBody, "1614265330.5") == SignatureVerdict::bad_timestamp);
  BOOST_TEST(check(kSignature, kNow, kBody, "-1614265330") == SignatureVerdict::bad_timestamp);
  BOOST_TEST(check(kSignature, kNow, kBody, "99999999999999999999") == SignatureVerdict::bad_timestamp);
}

BOOST_AUTO_TEST_SUITE_END()
