// Error classes: every status and body shape Vault sends maps to the documented ErrorCode and
// Action (vault/README.md, "Error classes" and "Answers").
#include <boost/test/unit_test.hpp>

#include "vault/error.h"
#include "vault/response.h"

#include <nlohmann/json.hpp>

using ps::Code;
using ps::Result;
using ps::Status;

namespace ps::vault {
namespace {

using std::chrono::seconds;

struct Row {
  int status;
  std::vector<std::string> errors;
  std::optional<seconds> retry_after;
  ErrorCode code;
  Action action;
};

BOOST_AUTO_TEST_SUITE(vault_error_classification)

BOOST_AUTO_TEST_CASE(every_documented_status_maps_to_its_class) {
  const std::string invalid2 = "2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n";
  const std::string denied1 = "1 error occurred:\n\t* permission denied\n\n";
  const std::vector<Row> table = {
      {400, {"missing role_id"}, {}, ErrorCode::invalid_request, Action::give_up},
      {400, {"invalid role or secret ID"}, seconds{3}, ErrorCode::invalid_request, Action::give_up},
      {403, {"permission denied"}, {}, ErrorCode::permission_denied, Action::give_up},
      {403, {denied1}, {}, ErrorCode::permission_denied, Action::give_up},
      {403, {invalid2}, {}, ErrorCode::invalid_token, Action::reauthenticate},
      {403, {"permission denied", "invalid token"}, {}, ErrorCode::invalid_token,
       Action::reauthenticate},
      {403, {"namespaces feature not enabled"}, {}, ErrorCode::permission_denied, Action::give_up},
      {404, {}, {}, ErrorCode::not_found, Action::give_up},
      {404, {"unsupported path"}, {}, ErrorCode::not_found, Action::give_up},
      {405, {}, {}, ErrorCode::unexpected_status, Action::give_up},
      {307, {}, {}, ErrorCode::standby, Action::retry},
      {412, {"missing \"X-Vault-Request\" header"}, {}, ErrorCode::precondition_failed,
       Action::retry},
      {413, {"failed to parse JSON input: http: request body too large"}, {},
       ErrorCode::invalid_request, Action::give_up},
      {422, {}, {}, ErrorCode::unexpected_status, Action::give_up},
      {429, {"request path \"x\": rate limit quota exceeded"}, seconds{7},
       ErrorCode::rate_limited, Action::retry},
      {429, {}, {}, ErrorCode::rate_limited, Action::retry},
      {500, {"1 error occurred:\n\t* internal error\n\n"}, {}, ErrorCode::server_error,
       Action::retry},
      {501, {}, {}, ErrorCode::not_implemented, Action::give_up},
      {502, {}, {}, ErrorCode::server_error, Action::retry},
      {503, {"Vault is sealed"}, {}, ErrorCode::sealed, Action::retry},
      {503, {"error performing token check: Vault is sealed"}, {}, ErrorCode::sealed,
       Action::retry},
      {503, {"no active Vault instance found"}, seconds{1}, ErrorCode::server_error,
       Action::retry},
      {504, {}, {}, ErrorCode::server_error, Action::retry},
  };
  for (const auto& row : table) {
    BOOST_TEST_CONTEXT("status " << row.status) {
      Error e = classify_http(row.status, row.errors, row.retry_after);
      BOOST_TEST(to_string(e.code) == to_string(row.code));
      BOOST_TEST(to_string(e.action) == to_string(row.action));
      BOOST_TEST(e.http_status == row.status);
      if (row.action == Action::retry) {
        BOOST_TEST((e.retry_after == row.retry_after));
      } else {
        BOOST_TEST(!e.retry_after.has_value());
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(multierror_text_is_flattened_to_one_line) {
  Error e = classify_http(
      403, {"2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n"}, std::nullopt);
  BOOST_TEST(e.message == "Vault answered 403: permission denied; invalid token");
  Error plain = classify_http(400, {"missing role_id", "second\nline"}, std::nullopt);
  BOOST_TEST(plain.message == "Vault answered 400: missing role_id; second line");
  Error empty = classify_http(404, {}, std::nullopt);
  BOOST_TEST(empty.message == "Vault answered 404");
  BOOST_TEST(empty.describe() == "not_found (HTTP 404): Vault answered 404");
}

BOOST_AUTO_TEST_CASE(long_error_text_is_cut) {
  Error e = classify_http(500, {std::string(5000, 'x')}, std::nullopt);
  BOOST_TEST(e.message.size() < 600u);
}

BOOST_AUTO_TEST_CASE(transport_failures_retry_except_certificate_problems) {
  struct T {
    TransportFailure failure;
    ErrorCode code;
    Action action;
  };
  const std::vector<T> table = {
      {TransportFailure::connection, ErrorCode::transport, Action::retry},
      {TransportFailure::connect_timeout, ErrorCode::timeout, Action::retry},
      {TransportFailure::read, ErrorCode::transport, Action::retry},
      {TransportFailure::read_timeout, ErrorCode::timeout, Action::retry},
      {TransportFailure::write, ErrorCode::transport, Action::retry},
      {TransportFailure::tls_handshake, ErrorCode::tls_handshake, Action::retry},
      {TransportFailure::tls_verification, ErrorCode::tls_certificate, Action::give_up},
      {TransportFailure::tls_loading, ErrorCode::tls_config, Action::give_up},
      {TransportFailure::other, ErrorCode::transport, Action::retry},
  };
  for (const auto& row : table) {
    Error e = classify_transport(row.failure, "detail");
    BOOST_TEST(to_string(e.code) == to_string(row.code));
    BOOST_TEST(to_string(e.action) == to_string(row.action));
    BOOST_TEST(e.http_status == 0);
    BOOST_TEST(e.message.find("(detail)") != std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(retry_after_accepts_only_delta_seconds) {
  BOOST_TEST((parse_retry_after("2") == seconds{2}));
  BOOST_TEST((parse_retry_after(" 120 ") == seconds{120}));
  BOOST_TEST((parse_retry_after("0") == seconds{0}));
  BOOST_TEST(!parse_retry_after("").has_value());
  BOOST_TEST(!parse_retry_after("-1").has_value());
  BOOST_TEST(!parse_retry_after("1.5").has_value());
  BOOST_TEST(!parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT").has_value());
  BOOST_TEST(!parse_retry_after("99999999999999").has_value());
}

BOOST_AUTO_TEST_CASE(per_field_write_on_a_missing_role_is_role_missing) {
  Error e = classify_answer(Operation::write_role_policies,
                            HttpAnswer{404, R"({"errors":["unsupported path"]})", {}});
  BOOST_TEST(to_string(e.code) == "role_missing");
  BOOST_TEST(to_string(e.action) == "give_up");
}

BOOST_AUTO_TEST_CASE(approle_plain_error_500s_are_recognised_by_their_documented_text) {
  auto classify = [](Operation op, const std::string& text) {
    nlohmann::json body{{"errors", {text}}};
    return classify_answer(op, HttpAnswer{500, body.dump(), std::chrono::seconds{5}});
  };
  Error constraint = classify(Operation::write_role,
                              "1 error occurred:\n\t* at least one constraint should be enabled "
                              "on the role\n\n");
  BOOST_TEST(to_string(constraint.code) == "invalid_request");
  BOOST_TEST(to_string(constraint.action) == "give_up");
  BOOST_TEST(!constraint.retry_after.has_value());

  Error accessor = classify(Operation::destroy_secret_id_accessor,
                            "1 error occurred:\n\t* failed to find accessor entry for "
                            "secret_id_accessor: \"abc\"\n\n");
  BOOST_TEST(to_string(accessor.code) == "not_found");
  BOOST_TEST(to_string(accessor.action) == "give_up");

  Error role = classify(Operation::destroy_secret_id_accessor,
                        "1 error occurred:\n\t* role \"agent-x\" does not exist\n\n");
  BOOST_TEST(to_string(role.code) == "role_missing");

  Error renewal = classify(Operation::renew_self,
                           "1 error occurred:\n\t* role \"sidecar\" does not exist during "
                           "renewal\n\n");
  BOOST_TEST(to_string(renewal.code) == "role_missing");
  BOOST_TEST(to_string(renewal.action) == "give_up");

  // The same texts on other operations, and other 500s, stay retryable server errors.
  Error other = classify(Operation::read_role, "at least one constraint should be enabled");
  BOOST_TEST(to_string(other.code) == "server_error");
  BOOST_TEST(to_string(other.action) == "retry");
  BOOST_TEST((other.retry_after == std::chrono::seconds{5}));
}

BOOST_AUTO_TEST_CASE(errors_list_is_read_from_json_and_ignored_otherwise) {
  BOOST_TEST(parse_errors(R"({"errors":[]})").empty());
  BOOST_TEST(parse_errors(R"({"errors":["a","b"]})").size() == 2u);
  BOOST_TEST(parse_errors("<html>bad gateway</html>").empty());
  BOOST_TEST(parse_errors("").empty());
  BOOST_TEST(parse_errors(R"({"errors":"not a list"})").empty());
}

BOOST_AUTO_TEST_CASE(result_holds_a_value_or_an_error) {
  Result<int> ok = 5;
  BOOST_TEST(ok.ok());
  BOOST_TEST(*ok == 5);
  Result<int> bad = Error::make(ErrorCode::timeout, Action::retry, "x");
  BOOST_TEST(!bad.ok());
  BOOST_TEST(to_string(bad.error().code) == "timeout");
  Result<void> fine;
  BOOST_TEST(fine.ok());
  Result<void> failed = Error::make(ErrorCode::not_found, Action::give_up, "y");
  BOOST_TEST(!failed.ok());
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace ps::vault
