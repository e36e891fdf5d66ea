// The emulator's latency model (vault/emulator/latency.h): the figures, their parsing, the
// Raft-like commit pipeline, and the core's choice of wait per request. No sleeping: the
// pipeline's sleep is a gate the test opens.
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "tests/support/poll.h"
#include "tests/vault/emulator/emulator_fixture.h"
#include "vault/emulator/latency.h"

using namespace ps::vault::emulator;
using namespace ps::vault::emulator::testing;
using namespace std::chrono_literals;

namespace {

// A sleep that blocks until the test opens it, counting sleepers (at most one may sleep).
struct Gate {
  std::mutex mu;
  std::condition_variable cv;
  int open = 0;       // sleeps allowed to end
  int sleeping = 0;
  int most_at_once = 0;
  void sleep(std::chrono::milliseconds) {
    std::unique_lock<std::mutex> lock(mu);
    most_at_once = std::max(most_at_once, ++sleeping);
    cv.notify_all();
    cv.wait(lock, [this] { return open > 0; });
    --open;
    --sleeping;
  }
  void wait_sleeping(int n) {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return sleeping == n; });
  }
  void release() {
    std::lock_guard<std::mutex> lock(mu);
    ++open;
    cv.notify_all();
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(emulator_latency)

BOOST_AUTO_TEST_CASE(a_wait_is_the_fixed_figure_plus_a_draw_up_to_the_jitter) {
  LatencySettings s;
  s.read = 2ms;
  s.write = 5ms;
  s.write_jitter = 3ms;
  std::int64_t asked = -1;
  auto draw = [&](std::int64_t n) { asked = n; return n; };
  BOOST_TEST(latency_for(s, false, draw).count() == 2);
  BOOST_TEST(asked == -1);  // no jitter: nothing drawn
  BOOST_TEST(latency_for(s, true, draw).count() == 8);
  BOOST_TEST(asked == 3);
}

BOOST_AUTO_TEST_CASE(settings_parse_from_json_and_from_the_command_line_flag) {
  auto s = latency_from_spec("read_ms=1,read_jitter_ms=2,write_ms=5,write_jitter_ms=3,serialize_writes");
  BOOST_TEST_REQUIRE(s.ok(), s.status().message());
  BOOST_TEST(s->read.count() == 1);
  BOOST_TEST(s->write_jitter.count() == 3);
  BOOST_TEST(s->serialize_writes);
  BOOST_TEST(latency_to_json(*s)["write_ms"] == 5);
  auto back = latency_from_json(latency_to_json(*s));
  BOOST_TEST_REQUIRE(back.ok());
  BOOST_TEST(back->write.count() == 5);
  for (const char* bad : {"write_ms=-1", "write_ms=x", "write_ms=10001", "nope=1", "write_ms="}) {
    BOOST_TEST(!latency_from_spec(bad).ok(), bad);
  }
  BOOST_TEST(!latency_from_json({{"serialize_writes", 1}}).ok());
  BOOST_TEST(!latency_from_json({{"read_ms", 1.5}}).ok());
  BOOST_TEST(latency_from_json(json::object())->any() == false);
}

BOOST_AUTO_TEST_CASE(writes_arriving_during_a_commit_share_the_next_one) {
  Gate gate;
  CommitPipeline pipe([&](std::chrono::milliseconds d) { gate.sleep(d); });
  std::uint64_t first = 0, second = 0, third = 0;
  std::thread a([&] { first = pipe.commit(5ms); });
  gate.wait_sleeping(1);  // a leads batch 1
  std::thread b([&] { second = pipe.commit(5ms); });
  std::thread c([&] { third = pipe.commit(5ms); });
  // b and c queue behind the running commit; neither sleeps while it runs.
  BOOST_TEST(ps::testing::poll_until([&] { return pipe.queued() >= 2; }));
  gate.release();        // batch 1 ends; one of b, c leads batch 2 for both
  gate.wait_sleeping(1);
  gate.release();
  a.join();
  b.join();
  c.join();
  BOOST_TEST(first == 1u);
  BOOST_TEST(second == 2u);
  BOOST_TEST(third == 2u);
  BOOST_TEST(pipe.batches() == 2u);
  BOOST_TEST(gate.most_at_once == 1);
}

BOOST_AUTO_TEST_CASE(the_core_delays_storage_requests_and_never_health) {
  Options o = dev_options();
  o.latency.read = 3ms;
  o.latency.write = 7ms;
  o.latency.serialize_writes = true;
  Vault v(o);
  auto req = [](std::string method, std::string path) {
    HttpRequest r;
    r.method = std::move(method);
    r.path = std::move(path);
    r.headers.push_back({"X-Vault-Token", "root"});
    return r;
  };
  const Outcome read = v.emu.dispatch(req("GET", "/v1/auth/approle/role/x"));
  BOOST_TEST(static_cast<int>(read.kind) == static_cast<int>(Outcome::Kind::delay));
  BOOST_TEST(read.hang.count() == 3);
  BOOST_TEST(!read.commit);
  const Outcome write = v.emu.dispatch(req("POST", "/v1/auth/approle/role/x/policies"));
  BOOST_TEST(write.hang.count() == 7);
  BOOST_TEST(write.commit);
  const Outcome health = v.emu.dispatch(req("GET", "/v1/sys/health"));
  BOOST_TEST(static_cast<int>(health.kind) == static_cast<int>(Outcome::Kind::respond));
}

BOOST_AUTO_TEST_CASE(the_admin_api_reads_and_replaces_the_model) {
  Vault v;
  auto admin = [&](const std::string& method, const json& body) {
    HttpRequest r;
    r.method = method;
    r.path = "/_emulator/latency";
    r.headers.push_back({"X-Emulator-Admin-Token", dev_options().admin_token});
    if (!body.is_null()) r.body = body.dump();
    return Vault::to_reply(v.emu.handle(r));
  };
  BOOST_TEST(admin("GET", nullptr).body["write_ms"] == 0);
  BOOST_TEST(admin("POST", {{"write_ms", 5}, {"serialize_writes", true}}).status == 204);
  const auto now = admin("GET", nullptr).body;
  BOOST_TEST(now["write_ms"] == 5);
  BOOST_TEST(now["serialize_writes"] == true);
  BOOST_TEST(admin("POST", {{"write_ms", 99999}}).status == 400);
  BOOST_TEST(admin("GET", nullptr).body["write_ms"] == 5);  // a rejected body changes nothing
}

BOOST_AUTO_TEST_SUITE_END()
