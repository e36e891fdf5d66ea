// VaultClient against hostile servers on 127.0.0.1 port 0: a peer that
// trickles bytes (during the TLS handshake, the status line and headers, or a chunked body
// over real TLS) and answers larger than vault.max_reply_bytes (declared by Content-Length,
// or streamed without one).
//
// No timing is asserted. Each trickling peer has far more to send than the injected deadline
// (200 ms; 2 s where a later call must succeed) lets it, and would finish on its own after
// seconds; the tests assert the outcome: the call returned a retryable `timeout` while the
// peer still had bytes left to trickle
// (before the fix the call waited for the peer and then succeeded or failed otherwise).
#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include <nlohmann/json.hpp>

#include "tests/support/emulator_process.h"
#include "tests/vault/test_support.h"
#include "vault/auth.h"
#include "vault/client.h"

namespace ps::vault {
namespace {

using namespace ps::vault::testing;
using ps::testing::DevPki;
using nlohmann::json;
using std::chrono::milliseconds;

constexpr milliseconds kDeadline{200};
constexpr milliseconds kGap{25};  // between two trickled bytes; far below any read timeout

// A raw TCP peer: accepts connections one after another and sends `bytes` one byte every
// kGap, then holds the connection open until the client goes away.
class RawTrickleServer {
 public:
  explicit RawTrickleServer(std::string bytes) : bytes_(std::move(bytes)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(fd_, 8) != 0) {
      throw std::runtime_error("cannot listen on 127.0.0.1");
    }
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~RawTrickleServer() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  int port() const { return port_; }
  std::size_t total() const { return bytes_.size(); }
  std::size_t sent() const { return sent_.load(); }

 private:
  // Waits up to `ms` for `events` on `fd`, or for stop_.
  bool wait(int fd, short events, int ms) {
    pollfd p{fd, events, 0};
    return ::poll(&p, 1, ms) > 0;
  }
  void serve() {
    while (!stop_) {
      if (!wait(fd_, POLLIN, 20)) continue;
      const int conn = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (conn < 0) continue;
      sent_ = 0;
      for (std::size_t i = 0; i < bytes_.size() && !stop_; ++i) {
        if (::send(conn, &bytes_[i], 1, MSG_NOSIGNAL) != 1) break;
        ++sent_;
        std::this_thread::sleep_for(kGap);  // the hostile peer's pace, not the test's
      }
      char sink[4096];
      while (!stop_) {  // hold the connection until the client closes it
        if (wait(conn, POLLIN, 20) && ::recv(conn, sink, sizeof sink, 0) <= 0) break;
      }
      ::close(conn);
    }
  }

  std::string bytes_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<std::size_t> sent_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// A TLS httplib server with one handler for every GET.
class TlsServer {
 public:
  TlsServer(const DevPki& pki, httplib::Server::Handler handler) {
    auto created = tls::ServerTls::create({pki.server, pki.server_key, ""}, nullptr);
    if (!created.ok()) throw std::runtime_error(created.status().message());
    server_tls_ = *created;
    server_ = server_tls_->make_httplib_server();
    server_->set_tcp_nodelay(true);
    server_->Get(".*", std::move(handler));
    port_ = server_->bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    while (!server_->is_running()) std::this_thread::sleep_for(milliseconds{1});
  }
  ~TlsServer() {
    server_->stop();
    thread_.join();
  }
  int port() const { return port_; }

 private:
  std::shared_ptr<tls::ServerTls> server_tls_;
  std::unique_ptr<httplib::Server> server_;
  int port_ = 0;
  std::thread thread_;
};

// A list answer of `n` UUID-sized keys (39 bytes each in the JSON).
std::string key_list(std::size_t n) {
  std::string body = R"({"data":{"keys":[)";
  for (std::size_t i = 0; i < n; ++i) {
    if (i > 0) body += ',';
    char key[40];
    std::snprintf(key, sizeof key, "\"%08zx-0000-4000-8000-000000000000\"", i);
    body += key;
  }
  return body + "]}}";
}

struct HostileFixture {
  TempDir dir;
  DevPki pki{dir};
  RealClock clock;
  LogCapture logs;

  std::unique_ptr<VaultClient> client(int port, bool tls,
                                      std::function<void(VaultConfig&)> tweak = {}) {
    VaultConfig c;
    c.address = std::string(tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(port);
    c.allow_plaintext_loopback = !tls;
    c.tls.ca_file = pki.ca;
    c.request_timeout = kDeadline;
    c.connect_timeout = milliseconds{5000};
    if (tweak) tweak(c);
    auto factory = VaultClientFactory::create(c, clock, logs.fn());
    BOOST_REQUIRE_MESSAGE(factory.ok(), (factory.ok() ? "" : factory.error().message));
    return factory.value()->make_client(std::make_shared<StaticTokenSource>(Secret("hvs.t")));
  }
};

void require_deadline_error(const Result<std::vector<std::string>>& r) {
  BOOST_REQUIRE(!r.ok());
  BOOST_TEST_MESSAGE(r.error().describe());
  BOOST_TEST(to_string(r.error().code) == "timeout");
  BOOST_TEST(to_string(r.error().action) == "retry");
  BOOST_TEST(r.error().message.find("deadline") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE(vault_client_hostile)

BOOST_FIXTURE_TEST_CASE(a_peer_trickling_the_tls_handshake_is_cut_at_the_deadline,
                        HostileFixture) {
  // A TLS handshake record header announcing 16 KiB, then its bytes one at a time.
  std::string record = "\x16\x03\x03\x40\x00";
  record += std::string(200, '\x02');
  RawTrickleServer peer(record);
  auto c = client(peer.port(), /*tls=*/true);
  auto r = c->list_roles();
  const std::size_t sent_when_returned = peer.sent();
  require_deadline_error(r);
  BOOST_TEST(sent_when_returned < peer.total());  // the peer was still trickling
}

BOOST_FIXTURE_TEST_CASE(a_peer_trickling_the_status_line_and_headers_is_cut_at_the_deadline,
                        HostileFixture) {
  const std::string answer =
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Padding: " +
      std::string(60, 'p') + "\r\nContent-Length: 24\r\n\r\n" + R"({"data":{"keys":["a"]}})" +
      "\n";
  RawTrickleServer peer(answer);
  auto c = client(peer.port(), /*tls=*/false);
  auto r = c->list_roles();
  const std::size_t sent_when_returned = peer.sent();
  require_deadline_error(r);
  BOOST_TEST(sent_when_returned < peer.total());
}

BOOST_FIXTURE_TEST_CASE(a_body_trickled_over_tls_is_cut_at_the_deadline_and_the_client_recovers,
                        HostileFixture) {
  const std::string body = key_list(5);  // ~230 bytes: seconds at one byte per kGap
  std::atomic<bool> first{true};
  std::atomic<std::size_t> trickled{0};
  std::atomic<bool> trickle_done{false};
  TlsServer server(pki, [&](const httplib::Request&, httplib::Response& res) {
    if (!first.exchange(false)) {
      res.set_content(key_list(1), "application/json");
      return;
    }
    res.set_chunked_content_provider(
        "application/json", [&](std::size_t offset, httplib::DataSink& sink) {
          if (offset >= body.size()) {
            trickle_done = true;
            sink.done();
            return true;
          }
          if (!sink.write(body.data() + offset, 1)) return false;
          ++trickled;
          std::this_thread::sleep_for(kGap);  // the hostile peer's pace
          return true;
        });
  });
  // A longer deadline than the other trickle tests (still less than half the trickle): the
  // call after the cut must get a fresh TLS handshake and its answer within it, which 200 ms
  // does not always allow on a loaded machine (a sanitizer build beside other suites).
  auto c = client(server.port(), /*tls=*/true,
                  [](VaultConfig& cfg) { cfg.request_timeout = milliseconds{2000}; });
  auto r = c->list_roles();
  const bool finished_when_returned = trickle_done.load();
  require_deadline_error(r);
  BOOST_TEST(!finished_when_returned);
  BOOST_TEST(trickled.load() < body.size());
  // The cut connection is not reused: each later call opens a new one, and one succeeds. (A
  // later call that still misses its deadline on a very busy machine fails as a deadline too,
  // and the next tries again on another new connection.)
  auto next = c->list_roles();
  std::uint64_t later_calls = 1;
  while (!next.ok() && to_string(next.error().code) == "timeout" && later_calls < 5) {
    next = c->list_roles();
    ++later_calls;
  }
  BOOST_REQUIRE_MESSAGE(next.ok(), (next.ok() ? "" : next.error().describe()));
  BOOST_TEST(next->size() == 1u);
  BOOST_TEST(c->connections_opened() == 1u + later_calls);
}

BOOST_FIXTURE_TEST_CASE(an_answer_declared_larger_than_the_cap_is_refused_unread,
                        HostileFixture) {
  const std::string big = key_list(400'000);  // 15.6 MB, a valid list
  TlsServer server(pki, [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(big, "application/json");
  });
  auto c = client(server.port(), true, [](VaultConfig& cfg) {
    cfg.request_timeout = milliseconds{30000};
    cfg.max_reply_bytes = 1 << 20;
  });
  auto r = c->list_roles();
  BOOST_REQUIRE(!r.ok());
  BOOST_TEST_MESSAGE(r.error().describe());
  BOOST_TEST(to_string(r.error().code) == "bad_response");
  BOOST_TEST(to_string(r.error().action) == "give_up");
  BOOST_TEST(r.error().message.find("max_reply_bytes") != std::string::npos);
}

BOOST_FIXTURE_TEST_CASE(a_streamed_answer_is_cut_once_it_passes_the_cap, HostileFixture) {
  // Chunked, no Content-Length: the client learns the size only by reading.
  const std::string big = key_list(800'000);  // 31 MB, a valid list
  constexpr std::size_t kPiece = 64 * 1024;
  std::atomic<std::size_t> streamed{0};
  TlsServer server(pki, [&](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider(
        "application/json", [&](std::size_t offset, httplib::DataSink& sink) {
          if (offset >= big.size()) {
            sink.done();
            return true;
          }
          const std::size_t n = std::min(kPiece, big.size() - offset);
          if (!sink.write(big.data() + offset, n)) return false;
          streamed += n;
          return true;
        });
  });
  auto c = client(server.port(), true, [](VaultConfig& cfg) {
    cfg.request_timeout = milliseconds{30000};
    cfg.max_reply_bytes = 1 << 20;
  });
  auto r = c->list_roles();
  const std::size_t streamed_when_returned = streamed.load();
  BOOST_REQUIRE(!r.ok());
  BOOST_TEST(to_string(r.error().code) == "bad_response");
  BOOST_TEST(r.error().message.find("max_reply_bytes") != std::string::npos);
  // The client stopped reading: the server got far less than the answer out (what it did
  // get out sat in socket buffers, never in the client's memory past the cap).
  BOOST_TEST(streamed_when_returned < big.size() / 2);
}

BOOST_FIXTURE_TEST_CASE(answers_within_the_cap_are_read_whole, HostileFixture) {
  const std::string list = key_list(20'000);  // 780 KB, under a 1 MiB cap
  TlsServer server(pki, [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(list, "application/json");
  });
  auto c = client(server.port(), true, [](VaultConfig& cfg) {
    cfg.request_timeout = milliseconds{30000};
    cfg.max_reply_bytes = 1 << 20;
  });
  auto r = c->list_roles();
  BOOST_REQUIRE(r.ok());
  BOOST_TEST(r->size() == 20'000u);
}

BOOST_AUTO_TEST_CASE(reply_caps_outside_the_allowed_range_are_refused) {
  RealClock clock;
  VaultConfig c;
  c.address = "http://127.0.0.1:8200";
  c.allow_plaintext_loopback = true;
  c.max_reply_bytes = 100;
  auto small = VaultClientFactory::create(c, clock, nullptr);
  BOOST_REQUIRE(!small.ok());
  BOOST_TEST(small.error().message.find("max_reply_bytes") != std::string::npos);
  auto invalid = validate(c);
  BOOST_REQUIRE(!invalid.ok());
  BOOST_TEST(invalid.error().message.find("max_reply_bytes") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace ps::vault
