// The listener under hostile clients: a header flood is cut
// off at the cap, silent / trickling / idle connections never starve a legitimate request,
// connections over the caps are closed at accept, and ambiguous framing is refused with the
// connection closed. The daemon runs as a separate process over TLS on 127.0.0.1; hostile
// clients bind to other loopback addresses (127.0.0.2 and up) so per-peer caps apply to them.
// Nothing asserts a duration: each wait has a generous limit that only a failing server hits.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include <boost/test/unit_test.hpp>

#include <cerrno>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/serve/serve_harness.h"

using namespace ps::testing;
using namespace ps::testing::serve;
using namespace std::chrono_literals;

namespace {

// A TCP connection from `source` (a loopback address) to 127.0.0.1:port; -1 on failure.
class Socket {
 public:
  Socket(const std::string& source, int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in from{};
    from.sin_family = AF_INET;
    ::inet_pton(AF_INET, source.c_str(), &from.sin_addr);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<uint16_t>(port));
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{15, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0 ||
        ::connect(fd_, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~Socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  int fd() const { return fd_; }
  bool send(const std::string& bytes) const {
    return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size());
  }
  // Still open and nothing to read: the server neither answered nor closed it.
  bool open_and_silent() const {
    char c;
    const ssize_t n = ::recv(fd_, &c, 1, MSG_DONTWAIT | MSG_PEEK);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
  // Waits (up to the 15 s receive timeout) for the server to close it; false when data came
  // instead or it is still open.
  bool closed_by_server() const {
    char buf[256];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    return n == 0 || (n < 0 && errno == ECONNRESET);
  }

 private:
  int fd_ = -1;
};

// TLS over a Socket, verifying the daemon's certificate with the dev CA.
class TlsClient {
 public:
  TlsClient(const std::string& source, int port, const std::string& ca) : socket_(source, port) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_load_verify_locations(ctx_, ca.c_str(), nullptr);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    SSL_CTX_set_mode(ctx_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    ssl_ = SSL_new(ctx_);
    if (socket_.fd() < 0) return;
    SSL_set_fd(ssl_, socket_.fd());
    SSL_set_tlsext_host_name(ssl_, "localhost");
    connected_ = SSL_connect(ssl_) == 1;
  }
  ~TlsClient() {
    SSL_free(ssl_);
    SSL_CTX_free(ctx_);
  }
  bool connected() const { return connected_; }
  const Socket& socket() const { return socket_; }
  // Sends a request and reads one answer with a Content-Length (the connection stays open).
  std::string exchange(const std::string& request) {
    if (SSL_write(ssl_, request.data(), static_cast<int>(request.size())) <= 0) return "";
    std::string out;
    char buf[4096];
    for (;;) {
      const auto end = out.find("\r\n\r\n");
      const auto cl = out.find("Content-Length: ");
      if (end != std::string::npos && cl != std::string::npos && cl < end &&
          out.size() >= end + 4 + std::stoul(out.substr(cl + 16))) {
        return out;
      }
      const int n = SSL_read(ssl_, buf, sizeof buf);
      if (n <= 0) return out;
      out.append(buf, static_cast<std::size_t>(n));
    }
  }

  // Reads until the server closes the connection (or the 15 s receive timeout): true when it
  // closed with a TLS close_notify (SSL_read 0, SSL_ERROR_ZERO_RETURN) and sent nothing else.
  bool closed_with_close_notify() {
    char buf[256];
    const int n = SSL_read(ssl_, buf, sizeof buf);
    return n == 0 && SSL_get_error(ssl_, n) == SSL_ERROR_ZERO_RETURN;
  }

  // One more byte of a request; false once the server has closed the connection (or answered).
  bool send_byte(char c) {
    if (!socket_.open_and_silent()) return false;
    return SSL_write(ssl_, &c, 1) == 1;
  }

  struct Flood {
    std::size_t written = 0;  // bytes the server let through before it refused or closed
    std::string received;
    bool closed = false;
  };
  // Writes `line` over and over (after `head`) until `limit` bytes are written, the server
  // closes, or nothing moves for 15 s; reads whatever the server answers meanwhile.
  Flood flood(const std::string& head, const std::string& line, std::size_t limit);

 private:
  Socket socket_;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  bool connected_ = false;
};

TlsClient::Flood TlsClient::flood(const std::string& head, const std::string& line,
                                  std::size_t limit) {
  Flood f;
  ::fcntl(socket_.fd(), F_SETFL, ::fcntl(socket_.fd(), F_GETFL) | O_NONBLOCK);
  std::string pending = head;
  char buf[4096];
  bool writing = true;
  while (!f.closed) {
    pollfd p{socket_.fd(), static_cast<short>(POLLIN | (writing ? POLLOUT : 0)), 0};
    if (::poll(&p, 1, 15000) <= 0) break;
    if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
      const int n = SSL_read(ssl_, buf, sizeof buf);
      if (n > 0) {
        f.received.append(buf, static_cast<std::size_t>(n));
      } else {
        const int e = SSL_get_error(ssl_, n);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) f.closed = true;
      }
      continue;
    }
    if (!writing || !(p.revents & POLLOUT)) continue;
    const int n = SSL_write(ssl_, pending.data(), static_cast<int>(pending.size()));
    if (n > 0) {
      f.written += static_cast<std::size_t>(n);
      pending.erase(0, static_cast<std::size_t>(n));
      if (pending.empty()) pending = line;
      if (f.written >= limit) writing = false;
    } else {
      const int e = SSL_get_error(ssl_, n);
      if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) writing = false;
    }
    if (!writing && f.written >= limit) break;  // the server took everything: no cap
  }
  return f;
}

std::string loopback(int host) { return "127.0.0." + std::to_string(host); }

// The policy_sidecar_listener_refused_total series of `reason`; -1 when absent (every reason
// has a series from start-up).
double refused(ServeEnv& env, const std::string& reason) {
  return env.metric("policy_sidecar_listener_refused_total{reason=\"" + reason + "\"}").value_or(-1);
}

// Timeouts far above anything the tests wait for, so only a cap (or the deadline a test sets
// low) closes a connection. PS_LISTENER_TEST_OLD_KEYS=1 leaves out the keys the cpp-httplib
// listener did not know, to run these tests against it (see the commit that added them).
nlohmann::json patient_listener() {
  nlohmann::json l = {{"read_timeout_s", 60}, {"idle_timeout_s", 120}};
  if (!std::getenv("PS_LISTENER_TEST_OLD_KEYS")) {
    l["head_timeout_s"] = 60;
    l["request_timeout_s"] = 120;
  }
  return {{"listener", l}};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(serve_listener_e2e)

// Header lines each under 8 KiB but without end: the listener stops at max_header_bytes,
// answers 431 and closes, so a flood never grows the daemon's memory.
BOOST_AUTO_TEST_CASE(a_header_flood_gets_431_and_is_closed_before_the_flood_is_read) {
  ServeEnv env;
  env.start_serve(env.write_config(patient_listener()));
  TlsClient c(loopback(2), env.port(), env.ca());
  BOOST_REQUIRE(c.connected());
  constexpr std::size_t kFlood = 32u << 20;
  const auto f = c.flood("GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n",
                         "X-Fill: " + std::string(4000, 'a') + "\r\n", kFlood);
  BOOST_TEST(f.received.rfind("HTTP/1.1 431", 0) == 0u, f.received.substr(0, 200));
  BOOST_TEST(f.closed);
  // The kernel's socket buffers take a few MB whatever the server does; the server itself
  // reads at most the head cap (16 KiB) plus one read.
  BOOST_TEST(f.written < kFlood / 2, "written " << f.written);
  BOOST_TEST(env.get("/v1/sys/health").status == 200);
  BOOST_TEST(refused(env, "header_too_large") == 1.0);
  BOOST_TEST(refused(env, "too_many_headers") == 0.0);
}

BOOST_AUTO_TEST_CASE(too_many_header_fields_get_431_and_close) {
  ServeEnv env;
  env.start_serve(env.write_config(patient_listener()));
  std::string head = "GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 100; ++i) head += "X-H" + std::to_string(i) + ": 1\r\n";
  const auto c = env.wait_for_close(head + "\r\n", 15s);
  BOOST_TEST(c.received.rfind("HTTP/1.1 431", 0) == 0u, c.received.substr(0, 200));
  BOOST_TEST(c.closed);
  BOOST_TEST(c.close_notify);
  BOOST_TEST(refused(env, "too_many_headers") == 1.0);
  BOOST_TEST(refused(env, "header_too_large") == 0.0);
}

// Silent connects, trickled handshakes and idle kept-alive clients hold no thread a request
// needs: 40 of each stay open while a health check and a signed approval are answered, and
// they are still open afterwards (the server did not have to drop them).
BOOST_AUTO_TEST_CASE(health_and_a_signed_webhook_are_answered_while_hostile_connections_hold_on) {
  ServeEnv env;
  env.raw().exec("BEGIN");
  seed_ready_agent(env.raw(), "omicron", 0, std::chrono::system_clock::now());
  env.raw().exec("COMMIT");
  env.start_serve(env.write_config(patient_listener()));
  constexpr int kEach = 40;
  std::vector<std::unique_ptr<Socket>> silent, trickling;
  std::vector<std::unique_ptr<TlsClient>> idle;
  for (int i = 0; i < kEach; ++i) {
    idle.push_back(std::make_unique<TlsClient>(loopback(4), env.port(), env.ca()));
    BOOST_REQUIRE(idle.back()->connected());
    const std::string r = idle.back()->exchange("GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n\r\n");
    BOOST_REQUIRE(r.rfind("HTTP/1.1 200", 0) == 0u);
  }
  for (int i = 0; i < kEach; ++i) {
    silent.push_back(std::make_unique<Socket>(loopback(2), env.port()));
    BOOST_REQUIRE(silent.back()->fd() >= 0);
    trickling.push_back(std::make_unique<Socket>(loopback(3), env.port()));
    // A TLS record header announcing a 512-byte ClientHello, and its first byte.
    BOOST_REQUIRE(trickling.back()->send(std::string("\x16\x03\x01\x02\x00\x01", 6)));
  }
  const HttpReply health = env.get("/v1/sys/health");
  BOOST_TEST(health.status == 200);
  const HttpReply approval = env.send_approval(approval_body("omicron", 1, "anyone"), "msg_omicron");
  BOOST_TEST(approval.status == 200, approval.body);
  int still_open = 0;
  for (int i = 0; i < kEach; ++i) {
    still_open += silent[i]->open_and_silent() + trickling[i]->open_and_silent() +
                  idle[i]->socket().open_and_silent();
  }
  BOOST_TEST(still_open == 3 * kEach);
}

BOOST_AUTO_TEST_CASE(connections_over_the_per_peer_cap_are_closed_at_accept) {
  ServeEnv env;
  env.start_serve(env.write_config(patient_listener()));
  constexpr int kPerPeerDefault = 64;  // listener.max_connections_per_peer
  BOOST_TEST(refused(env, "max_connections_per_peer") == 0.0);
  std::vector<std::unique_ptr<Socket>> held;
  for (int i = 0; i < kPerPeerDefault; ++i) {
    held.push_back(std::make_unique<Socket>(loopback(5), env.port()));
    BOOST_REQUIRE(held.back()->fd() >= 0);
  }
  Socket over(loopback(5), env.port());
  BOOST_REQUIRE(over.fd() >= 0);
  BOOST_TEST(over.closed_by_server());
  int open = 0;
  for (const auto& s : held) open += s->open_and_silent();
  BOOST_TEST(open == kPerPeerDefault);
  // Other addresses are served as usual.
  TlsClient other(loopback(6), env.port(), env.ca());
  BOOST_REQUIRE(other.connected());
  BOOST_TEST(other.exchange("GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n\r\n").rfind("HTTP/1.1 200", 0) == 0u);
  BOOST_TEST(env.get("/v1/sys/health").status == 200);
  BOOST_TEST(refused(env, "max_connections_per_peer") == 1.0);
  BOOST_TEST(refused(env, "max_connections") == 0.0);
}

BOOST_AUTO_TEST_CASE(connections_over_the_total_cap_are_closed_at_accept) {
  ServeEnv env;
  nlohmann::json config = patient_listener();
  config["listener"]["max_connections"] = 8;
  config["listener"]["max_connections_per_peer"] = 4;
  env.start_serve(env.write_config(config));
  BOOST_TEST(refused(env, "max_connections") == 0.0);
  std::vector<std::unique_ptr<Socket>> held;
  for (int i = 0; i < 8; ++i) {
    held.push_back(std::make_unique<Socket>(loopback(10 + i), env.port()));
    BOOST_REQUIRE(held.back()->fd() >= 0);
  }
  Socket over(loopback(20), env.port());
  BOOST_REQUIRE(over.fd() >= 0);
  BOOST_TEST(over.closed_by_server());
  int open = 0;
  for (const auto& s : held) open += s->open_and_silent();
  BOOST_TEST(open == 8);
  held.clear();  // room again: served
  BOOST_TEST(ServeEnv::eventually([&] { return env.get("/v1/sys/health").status == 200; }));
  // At least the one above; a health check racing the server's closes may add more.
  BOOST_TEST(refused(env, "max_connections") >= 1.0);
  BOOST_TEST(refused(env, "max_connections_per_peer") == 0.0);
}

// The deadline is for the whole head: a client sending a byte well inside each read timeout
// is still closed once listener.head_timeout_s has passed since its first byte.
BOOST_AUTO_TEST_CASE(a_client_trickling_its_head_is_closed_at_the_head_deadline) {
  ServeEnv env;
  nlohmann::json config = patient_listener();
  config["listener"]["head_timeout_s"] = 1;
  config["listener"]["read_timeout_s"] = 30;
  env.start_serve(env.write_config(config));
  TlsClient c(loopback(7), env.port(), env.ca());
  BOOST_REQUIRE(c.connected());
  const std::string head = "GET /v1/sys/health HTTP/1.1\r\nHost: x\r\nX-Slow: " + std::string(200, 'a');
  bool closed = false;
  for (std::size_t i = 0; i < head.size() && !closed; ++i) {
    closed = !c.send_byte(head[i]);
    std::this_thread::sleep_for(50ms);
  }
  BOOST_TEST(closed, "still open after trickling " << head.size() << " bytes over ~10 s");
  BOOST_TEST(refused(env, "head_timeout") == 1.0);
  BOOST_TEST(refused(env, "read_timeout") == 0.0);
}

// Each deadline that closes a connection is counted under its own reason: a handshake that
// never starts (head_timeout), a head that stalls (read_timeout), a body trickled past the
// request deadline (request_timeout, answered 400).
BOOST_AUTO_TEST_CASE(connections_closed_by_a_deadline_are_counted_by_reason) {
  ServeEnv env;
  nlohmann::json config = patient_listener();
  config["listener"]["head_timeout_s"] = 3;
  config["listener"]["request_timeout_s"] = 5;
  config["listener"]["read_timeout_s"] = 1;
  env.start_serve(env.write_config(config));
  for (const char* reason : {"head_timeout", "read_timeout", "request_timeout"}) {
    BOOST_TEST(refused(env, reason) == 0.0, reason);
  }

  Socket silent(loopback(2), env.port());
  BOOST_REQUIRE(silent.fd() >= 0);
  BOOST_TEST(silent.closed_by_server());
  BOOST_TEST(refused(env, "head_timeout") == 1.0);

  TlsClient stalled(loopback(3), env.port(), env.ca());
  BOOST_REQUIRE(stalled.connected());
  BOOST_REQUIRE(stalled.send_byte('G'));
  BOOST_TEST(stalled.socket().closed_by_server());
  BOOST_TEST(refused(env, "read_timeout") == 1.0);

  TlsClient trickling(loopback(4), env.port(), env.ca());
  BOOST_REQUIRE(trickling.connected());
  const std::string head =
      "POST /v1/webhooks/approval HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: 1000\r\n\r\n";
  for (char ch : head) BOOST_REQUIRE(trickling.send_byte(ch));
  bool answered = false;
  for (int i = 0; i < 100 && !answered; ++i) {  // 20 s at most; the deadline is 5 s
    std::this_thread::sleep_for(200ms);
    answered = !trickling.send_byte(' ');
  }
  BOOST_TEST(answered, "the trickled body was neither answered nor closed");
  BOOST_TEST(refused(env, "request_timeout") == 1.0);
  BOOST_TEST(refused(env, "head_timeout") == 1.0);
  BOOST_TEST(refused(env, "read_timeout") == 1.0);
}

// The listener frames requests itself; anything ambiguous is 400 and the connection is
// closed, so what follows is never parsed as another request.
BOOST_AUTO_TEST_CASE(ambiguous_framing_gets_400_and_the_connection_closed) {
  ServeEnv env;
  env.start_serve(env.write_config(patient_listener()));
  const std::string start =
      "POST /v1/webhooks/approval HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n";
  const std::string smuggled = "GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"differing Content-Length", "Content-Length: 5\r\nContent-Length: 7\r\n\r\nhello"},
      {"repeated equal Content-Length", "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello"},
      {"Content-Length list", "Content-Length: 5, 5\r\n\r\nhello"},
      {"Content-Length %37", "Content-Length: %37\r\n\r\nhello12"},
      {"Content-Length +5", "Content-Length: +5\r\n\r\nhello"},
      {"Content-Length -5", "Content-Length: -5\r\n\r\nhello"},
      {"Transfer-Encoding chunked", "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"},
      {"Transfer-Encoding with Content-Length", "Content-Length: 5\r\nTransfer-Encoding: identity\r\n\r\nhello"},
  };
  for (const auto& [name, rest] : cases) {
    const auto c = env.wait_for_close(start + rest + smuggled, 15s);
    BOOST_TEST(c.received.rfind("HTTP/1.1 400", 0) == 0u, name << ": " << c.received.substr(0, 120));
    BOOST_TEST(c.closed, name);
    BOOST_TEST(c.close_notify, name << ": closed without a TLS close_notify");
    BOOST_TEST(c.received.find("HTTP/1.1", 1) == std::string::npos, name << ": a second answer");
  }
  BOOST_TEST(env.get("/v1/sys/health").status == 200);
}

// A connection the server ends after an answer ends with a TLS close_notify (SSL_read returns 0
// with SSL_ERROR_ZERO_RETURN), so a client can tell a complete answer from a cut one: here after
// a 400 for bad framing and after a request that asked for Connection: close.
BOOST_AUTO_TEST_CASE(connections_closed_after_an_answer_end_with_a_tls_close_notify) {
  ServeEnv env;
  env.start_serve(env.write_config(patient_listener()));
  const auto bad = env.wait_for_close(
      "POST /v1/webhooks/approval HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: +5\r\n\r\nhello",
      15s);
  BOOST_TEST(bad.received.rfind("HTTP/1.1 400", 0) == 0u, bad.received.substr(0, 120));
  BOOST_TEST(bad.closed);
  BOOST_TEST(bad.close_notify);
  const auto done = env.wait_for_close(
      "GET /v1/sys/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 15s);
  BOOST_TEST(done.received.rfind("HTTP/1.1 200", 0) == 0u, done.received.substr(0, 120));
  BOOST_TEST(done.closed);
  BOOST_TEST(done.close_notify);
}

BOOST_AUTO_TEST_CASE(an_idle_kept_alive_connection_is_closed_with_a_tls_close_notify) {
  ServeEnv env;
  nlohmann::json config = patient_listener();
  config["listener"]["idle_timeout_s"] = 1;
  env.start_serve(env.write_config(config));
  TlsClient c(loopback(2), env.port(), env.ca());
  BOOST_REQUIRE(c.connected());
  BOOST_REQUIRE(c.exchange("GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n\r\n").rfind("HTTP/1.1 200", 0) == 0u);
  BOOST_TEST(c.closed_with_close_notify());
  // Not a refusal: the idle close is not counted.
  for (const char* reason : {"head_timeout", "read_timeout", "request_timeout"}) {
    BOOST_TEST(refused(env, reason) == 0.0, reason);
  }
}

// Far over listener.max_request_bytes (64 KiB): 413 at once, the body unread. Somewhat over
// it: the body is read and dropped first (a client writing it whole still sees the answer).
// Either way the connection is closed.
BOOST_AUTO_TEST_CASE(a_body_over_the_limit_gets_413_and_close) {
  ServeEnv env;
  env.start_serve(env.write_config(patient_listener()));
  const std::string head =
      "POST /v1/webhooks/approval HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n";
  const auto far = env.wait_for_close(head + "Content-Length: 2097152\r\n\r\n{", 15s);
  BOOST_TEST(far.received.rfind("HTTP/1.1 413", 0) == 0u, far.received.substr(0, 120));
  BOOST_TEST(far.closed);
  BOOST_TEST(far.close_notify);
  const auto near = env.wait_for_close(
      head + "Content-Length: 70000\r\n\r\n" + std::string(70000, ' ') + "GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n\r\n",
      15s);
  BOOST_TEST(near.received.rfind("HTTP/1.1 413", 0) == 0u, near.received.substr(0, 120));
  BOOST_TEST(near.closed);
  BOOST_TEST(near.received.find("HTTP/1.1", 1) == std::string::npos, "a second answer");
}

BOOST_AUTO_TEST_SUITE_END()
