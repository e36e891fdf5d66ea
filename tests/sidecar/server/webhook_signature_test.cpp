// Standard Webhooks verification: the specification's test vector, rotation, tampering,
// timestamp tolerance in both directions, and the secrets file.
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

void write_file(const std::string& path, const std::string& text, mode_t mode) {
  std::ofstream(path) << text;
  chmod(path.c_str(), mode);
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

BOOST_AUTO_TEST_CASE(secrets_must_be_whsec_base64) {
  BOOST_TEST(WebhookSecret::parse(kSecret).ok());
  BOOST_TEST(!WebhookSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").ok());
  BOOST_TEST(!WebhookSecret::parse("whsec_").ok());
  BOOST_TEST(!WebhookSecret::parse("whsec_not base64!").ok());
  auto bad = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS");
  BOOST_TEST(!bad.ok());
  BOOST_TEST(bad.status().message().find("MfKQ") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(strict_base64_round_trips_and_refuses_misplaced_padding) {
  for (const std::string& s : std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff\x10", 3)}) {
    BOOST_TEST(*ps::tls::base64_decode(ps::tls::base64_encode(s)) == s);
  }
  BOOST_TEST(!ps::tls::base64_decode("YQ=").has_value());
  BOOST_TEST(!ps::tls::base64_decode("Y===").has_value());
  BOOST_TEST(!ps::tls::base64_decode("YQ==YQ==").has_value());
  BOOST_TEST(!ps::tls::base64_decode("Y=Q=").has_value());
}

BOOST_AUTO_TEST_CASE(secrets_file_holds_several_secrets_comments_and_blank_lines) {
  ps::testing::TempDir dir;
  const std::string path = dir.file("secrets");
  write_file(path, "# rotated 2026-11\n\n" + std::string(kSecret) +
                       "\n  whsec_c2VjcmV0LW9mLWEtcm90YXRlZC1lbmRwb2ludA==  \r\n", 0600);
  auto loaded = load_webhook_secrets(path);
  BOOST_REQUIRE_MESSAGE(loaded.ok(), loaded.status().message());
  BOOST_TEST(loaded->size() == 2u);
}

BOOST_AUTO_TEST_CASE(secrets_file_readable_by_group_or_others_is_refused_without_its_content) {
  ps::testing::TempDir dir;
  const std::string path = dir.file("secrets");
  for (mode_t mode : {0640, 0604, 0660, 0620}) {
    write_file(path, std::string(kSecret) + "\n", mode);
    auto loaded = load_webhook_secrets(path);
    BOOST_TEST(!loaded.ok());
    BOOST_TEST(loaded.status().message().find("too open") != std::string::npos,
               loaded.status().message());
    BOOST_TEST(loaded.status().message().find("MfKQ") == std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(secrets_file_with_a_bad_line_names_the_line_not_the_value) {
  ps::testing::TempDir dir;
  const std::string path = dir.file("secrets");
  write_file(path, std::string(kSecret) + "\nwhsec_@@@@secretvalue\n", 0600);
  auto loaded = load_webhook_secrets(path);
  BOOST_TEST(!loaded.ok());
  BOOST_TEST(loaded.status().message().find("line 2") != std::string::npos);
  BOOST_TEST(loaded.status().message().find("secretvalue") == std::string::npos);
  write_file(path, "# nothing here\n", 0600);
  BOOST_TEST(load_webhook_secrets(path).status().message().find("holds no secret") !=
             std::string::npos);
  BOOST_TEST(!load_webhook_secrets(dir.file("missing")).ok());
}

BOOST_AUTO_TEST_SUITE_END()
