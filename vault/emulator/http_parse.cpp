#include "vault/emulator/http_parse.h"

#include <algorithm>
#include <cctype>
#include <ctime>

#include "vault/emulator/core.h"
#include "vault/emulator/util.h"

namespace ps::vault::emulator::http {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

bool is_token_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

}  // namespace

const std::string* RequestHead::header(std::string_view name) const {
  for (const auto& h : headers) {
    if (iequals(h.name, name)) return &h.value;
  }
  return nullptr;
}

bool RequestHead::keep_alive() const {
  const std::string* c = header("Connection");
  std::string v = c ? to_lower(*c) : "";
  if (version == "HTTP/1.0") return v.find("keep-alive") != std::string::npos;
  return v.find("close") == std::string::npos;
}

HeadStatus parse_head(std::string_view buf, std::size_t max_head_bytes, RequestHead* out,
                      std::size_t* consumed) {
  std::size_t end = buf.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    return buf.size() > max_head_bytes ? HeadStatus::too_large : HeadStatus::incomplete;
  }
  if (end + 4 > max_head_bytes) return HeadStatus::too_large;
  std::string_view head = buf.substr(0, end);
  std::size_t line_end = head.find("\r\n");
  std::string_view line = head.substr(0, line_end);
  auto sp1 = line.find(' ');
  auto sp2 = line.rfind(' ');
  if (sp1 == std::string_view::npos || sp2 == sp1) return HeadStatus::bad;
  RequestHead h;
  h.method = std::string(line.substr(0, sp1));
  h.target = std::string(line.substr(sp1 + 1, sp2 - sp1 - 1));
  h.version = std::string(line.substr(sp2 + 1));
  if (h.method.empty() || !std::all_of(h.method.begin(), h.method.end(), is_token_char)) {
    return HeadStatus::bad;
  }
  if (h.target.empty() || h.target[0] != '/' || h.target.find(' ') != std::string::npos) {
    return HeadStatus::bad;
  }
  if (h.version != "HTTP/1.1" && h.version != "HTTP/1.0") return HeadStatus::bad;
  std::size_t pos = line_end == std::string_view::npos ? head.size() : line_end + 2;
  while (pos < head.size()) {
    std::size_t e = head.find("\r\n", pos);
    if (e == std::string_view::npos) e = head.size();
    std::string_view field = head.substr(pos, e - pos);
    pos = e + 2;
    auto colon = field.find(':');
    if (colon == std::string_view::npos || colon == 0) return HeadStatus::bad;
    std::string name(field.substr(0, colon));
    if (!std::all_of(name.begin(), name.end(), is_token_char)) return HeadStatus::bad;
    h.headers.push_back({name, trim(field.substr(colon + 1))});
  }
  *out = std::move(h);
  *consumed = end + 4;
  return HeadStatus::ok;
}

void split_target(const std::string& target, std::string* path, std::string* query) {
  auto q = target.find('?');
  *path = target.substr(0, q);
  *query = q == std::string::npos ? "" : target.substr(q + 1);
}

ChunkedDecoder::Status ChunkedDecoder::feed(std::string& buf, std::string* body) {
  while (true) {
    switch (stage_) {
      case Stage::size: {
        auto e = buf.find("\r\n");
        if (e == std::string::npos) return buf.size() > 1024 ? Status::bad : Status::need_more;
        std::string line = buf.substr(0, e);
        auto semi = line.find(';');
        if (semi != std::string::npos) line.resize(semi);
        line = trim(line);
        if (line.empty() || line.size() > 15 ||
            !std::all_of(line.begin(), line.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); })) {
          return Status::bad;
        }
        remaining_ = std::stoull(line, nullptr, 16);
        buf.erase(0, e + 2);
        if (body->size() + remaining_ > max_body_) return Status::too_large;
        stage_ = remaining_ == 0 ? Stage::trailers : Stage::data;
        break;
      }
      case Stage::data: {
        std::size_t n = std::min(remaining_, buf.size());
        body->append(buf, 0, n);
        buf.erase(0, n);
        remaining_ -= n;
        if (remaining_ > 0) return Status::need_more;
        stage_ = Stage::data_crlf;
        break;
      }
      case Stage::data_crlf:
        if (buf.size() < 2) return Status::need_more;
        if (buf.compare(0, 2, "\r\n") != 0) return Status::bad;
        buf.erase(0, 2);
        stage_ = Stage::size;
        break;
      case Stage::trailers: {
        auto e = buf.find("\r\n");
        if (e == std::string::npos) return buf.size() > 8192 ? Status::bad : Status::need_more;
        buf.erase(0, e + 2);
        if (e == 0) return Status::done;  // the blank line ends the trailers
        break;
      }
    }
  }
}

std::string http_date(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

std::string serialize_response(const HttpResponse& r, bool keep_alive, bool head_only,
                               const std::string& date) {
  std::string out;
  out.reserve(256 + r.body.size());
  out += "HTTP/1.1 " + std::to_string(r.status) + " " + status_text(r.status) + "\r\n";
  for (const auto& h : r.headers) {
    if (iequals(h.name, "Content-Length") || iequals(h.name, "Connection")) continue;
    out += h.name + ": " + h.value + "\r\n";
  }
  out += "Date: " + date + "\r\n";
  bool no_body = r.status == 204 || r.status == 304 || (r.status >= 100 && r.status < 200);
  if (!no_body) out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
  if (!keep_alive) out += "Connection: close\r\n";
  out += "\r\n";
  if (!no_body && !head_only) out += r.body;
  return out;
}

}  // namespace ps::vault::emulator::http
