// HTTP/1.1 request framing for the emulator's own server (cpp-httplib 0.11.4 refuses the LIST
// verb, which Vault clients send). Pure functions over byte buffers, so tests need no sockets.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vault/emulator/emulator.h"

namespace ps::vault::emulator::http {

struct RequestHead {
  std::string method;
  std::string target;   // request-target as sent ("/v1/sys/health?standbyok=true")
  std::string version;  // "HTTP/1.1"
  std::vector<Header> headers;

  const std::string* header(std::string_view name) const;
  // Keep-alive per HTTP/1.1 (default on) and HTTP/1.0 (default off) and the Connection header.
  bool keep_alive() const;
};

enum class HeadStatus {
  incomplete,  // need more bytes
  ok,
  bad,         // malformed: answer 400 and close
  too_large,   // head beyond the limit: answer 431 and close
};

// Parses the request line and headers at the start of `buf`. On ok, *consumed is the length of
// the head including the blank line.
HeadStatus parse_head(std::string_view buf, std::size_t max_head_bytes, RequestHead* out,
                      std::size_t* consumed);

// Splits a request-target into path and query (without '?').
void split_target(const std::string& target, std::string* path, std::string* query);

// Incremental decoder for Transfer-Encoding: chunked bodies.
class ChunkedDecoder {
 public:
  enum class Status { need_more, done, bad, too_large };
  explicit ChunkedDecoder(std::size_t max_body) : max_body_(max_body) {}
  // Consumes bytes from the front of `buf` (erasing what it used) and appends to `body`.
  Status feed(std::string& buf, std::string* body);

 private:
  enum class Stage { size, data, data_crlf, trailers };
  Stage stage_ = Stage::size;
  std::size_t remaining_ = 0;
  std::size_t max_body_;
};

// "HTTP/1.1 <code> <reason>\r\n" + headers + Content-Length + body. `head_only` omits the body
// (HEAD requests); 204 and 304 never carry Content-Length or a body.
std::string serialize_response(const HttpResponse& r, bool keep_alive, bool head_only,
                               const std::string& date);

// The IMF-fixdate for the Date header, e.g. "Sun, 06 Nov 1994 08:49:37 GMT".
std::string http_date(std::chrono::system_clock::time_point t);

}  // namespace ps::vault::emulator::http
