// Fuzzes HTTP/1.1 request framing as the emulator's server reads it (vault/emulator/
// http_parse.h): the request head and a chunked body. (The sidecar's own listener parses with
// cpp-httplib inside its socket loop and has no callable request-head function yet.)
// Properties: an accepted head never claims more bytes than it was given or than the cap.
#include <cstdint>
#include <string>
#include <string_view>

#include "vault/emulator/http_parse.h"
#include "tests/fuzz/fuzz_input.h"

using namespace ps::vault::emulator::http;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  constexpr std::size_t kMaxHead = 8192;
  std::string_view buf(reinterpret_cast<const char*>(data), size);
  RequestHead head;
  std::size_t consumed = 0;
  const auto st = parse_head(buf, kMaxHead, &head, &consumed);
  if (st != HeadStatus::ok) return 0;
  ps::fuzz::check(consumed <= buf.size() && consumed <= kMaxHead + 4);
  (void)head.keep_alive();
  std::string path, query;
  split_target(head.target, &path, &query);
  std::string rest(buf.substr(consumed));
  std::string body;
  ChunkedDecoder decoder(1 << 16);
  while (!rest.empty()) {
    const std::size_t before = rest.size();
    const auto s = decoder.feed(rest, &body);
    if (s != ChunkedDecoder::Status::need_more || rest.size() == before) break;
  }
  ps::fuzz::check(body.size() <= (1 << 16));
  return 0;
}
