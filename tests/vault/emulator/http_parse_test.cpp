// HTTP/1.1 framing of the emulator's server and the request log's redaction.
#include <boost/test/unit_test.hpp>

#include "engine/base/clock.h"
#include "vault/emulator/http_parse.h"
#include "vault/emulator/request_log.h"


using namespace ps::vault::emulator;
using namespace ps::vault::emulator::http;

BOOST_AUTO_TEST_SUITE(emulator_http_parse)

BOOST_AUTO_TEST_CASE(parses_a_list_request_head_and_reports_its_length) {
  std::string buf = "LIST /v1/auth/approle/role?x=1 HTTP/1.1\r\nHost: a\r\nX-Vault-Token:  t \r\n\r\nBODY";
  RequestHead h;
  std::size_t used = 0;
  BOOST_TEST((parse_head(buf, 65536, &h, &used) == HeadStatus::ok));
  BOOST_TEST(h.method == "LIST");
  BOOST_TEST(h.target == "/v1/auth/approle/role?x=1");
  BOOST_TEST(*h.header("x-vault-token") == "t");
  BOOST_TEST(buf.substr(used) == "BODY");
  std::string path, query;
  split_target(h.target, &path, &query);
  BOOST_TEST(path == "/v1/auth/approle/role");
  BOOST_TEST(query == "x=1");
  BOOST_TEST(h.keep_alive());
}

BOOST_AUTO_TEST_CASE(incomplete_malformed_and_oversized_heads_are_told_apart) {
  RequestHead h;
  std::size_t used = 0;
  BOOST_TEST((parse_head("GET / HTTP/1.1\r\nHost: a\r\n", 65536, &h, &used) == HeadStatus::incomplete));
  BOOST_TEST((parse_head("GET / HTTP/1.1\r\nBad Header\r\n\r\n", 65536, &h, &used) == HeadStatus::bad));
  BOOST_TEST((parse_head("GET nope HTTP/1.1\r\n\r\n", 65536, &h, &used) == HeadStatus::bad));
  BOOST_TEST((parse_head("GET / HTTP/2\r\n\r\n", 65536, &h, &used) == HeadStatus::bad));
  BOOST_TEST((parse_head("G(T / HTTP/1.1\r\n\r\n", 65536, &h, &used) == HeadStatus::bad));
  std::string huge = "GET / HTTP/1.1\r\nX: " + std::string(200, 'a');
  BOOST_TEST((parse_head(huge, 100, &h, &used) == HeadStatus::too_large));
}

BOOST_AUTO_TEST_CASE(connection_persistence_follows_the_version_and_connection_header) {
  RequestHead h;
  std::size_t used = 0;
  parse_head("GET / HTTP/1.1\r\nConnection: close\r\n\r\n", 65536, &h, &used);
  BOOST_TEST(!h.keep_alive());
  parse_head("GET / HTTP/1.0\r\n\r\n", 65536, &h, &used);
  BOOST_TEST(!h.keep_alive());
  parse_head("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", 65536, &h, &used);
  BOOST_TEST(h.keep_alive());
}

BOOST_AUTO_TEST_CASE(chunked_bodies_decode_across_reads_with_extensions_and_trailers) {
  ChunkedDecoder d(1024);
  std::string body;
  std::string buf = "4;ext=1\r\nWiki\r\n5\r\npe";
  BOOST_TEST((d.feed(buf, &body) == ChunkedDecoder::Status::need_more));
  buf += "dia\r\n0\r\nTrailer: x\r\n\r\nNEXT";
  BOOST_TEST((d.feed(buf, &body) == ChunkedDecoder::Status::done));
  BOOST_TEST(body == "Wikipedia");
  BOOST_TEST(buf == "NEXT");
}

BOOST_AUTO_TEST_CASE(chunked_bodies_over_the_limit_or_malformed_are_refused) {
  ChunkedDecoder small(4);
  std::string body, buf = "10\r\n";
  BOOST_TEST((small.feed(buf, &body) == ChunkedDecoder::Status::too_large));
  ChunkedDecoder d(1024);
  std::string b2 = "zz\r\n";
  BOOST_TEST((d.feed(b2, &body) == ChunkedDecoder::Status::bad));
  ChunkedDecoder d3(1024);
  std::string b3 = "2\r\nabXX";
  BOOST_TEST((d3.feed(b3, &body) == ChunkedDecoder::Status::bad));
}

BOOST_AUTO_TEST_CASE(responses_serialise_with_length_except_for_204_and_head) {
  HttpResponse ok;
  ok.status = 200;
  ok.headers.push_back({"Content-Type", "application/json"});
  ok.body = "{}";
  std::string s = serialize_response(ok, true, false, "D");
  BOOST_TEST(s.rfind("HTTP/1.1 200 OK\r\n", 0) == 0u);
  BOOST_TEST(s.find("Content-Length: 2\r\n") != std::string::npos);
  BOOST_TEST(s.find("Connection: close") == std::string::npos);
  BOOST_TEST(s.substr(s.size() - 6) == "\r\n\r\n{}");
  std::string head = serialize_response(ok, false, true, "D");
  BOOST_TEST(head.find("Connection: close\r\n") != std::string::npos);
  BOOST_TEST(head.substr(head.size() - 4) == "\r\n\r\n");
  HttpResponse none;
  none.status = 204;
  std::string n = serialize_response(none, true, false, "D");
  BOOST_TEST(n.find("Content-Length") == std::string::npos);
  HttpResponse odd;
  odd.status = 299;
  BOOST_TEST(serialize_response(odd, true, false, "D").rfind("HTTP/1.1 299 Unknown\r\n", 0) == 0u);
}

BOOST_AUTO_TEST_CASE(the_request_log_redacts_credential_like_query_values_and_url_tokens) {
  BOOST_TEST(RequestLog::redact_query("token=abc&list=true&secret_id=s&role_id=r&x=1") ==
             "token=redacted&list=true&secret_id=redacted&role_id=redacted&x=1");
  BOOST_TEST(RequestLog::redact_path("/v1/auth/token/lookup/hvs.abc") == "/v1/auth/token/lookup/redacted");
  BOOST_TEST(RequestLog::redact_path("/v1/auth/token/lookup-self") == "/v1/auth/token/lookup-self");
}

BOOST_AUTO_TEST_SUITE_END()
