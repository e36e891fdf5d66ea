// webhook-load: an open-loop load generator for policy-sidecar's approval webhook (a benchmark
// tool, not a test; tests/bench/webhook_bench.sh drives it).
//
//   webhook-load seed --ledger DB --agents N
//       creates DB from the upstream schema with N agents at tier 0, each ready for tier 1.
//   webhook-load run --url URL --ca CA --secrets FILE --agents N --rate R --duration S
//                    [--connections C] [--duplicates F] [--ledger DB]
//                    [--vault-addr URL --vault-token T]
//       sends signed approvals at R per second for S seconds (one new agent each, a fraction F
//       of repeats of earlier deliveries mixed in) over C kept-alive connections. Open loop:
//       request i is due at start + i/R whatever the server does, and its latency is measured
//       from that due time (no coordinated omission). With --ledger it then waits for the
//       outbox to drain and measures due time -> Vault verified (the sync worker's read-back,
//       sidecar_outbox.synced_at); with --vault-addr it checks every role in Vault itself.
#include <httplib.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/rules/timestamp.h"
#include "sidecar/server/webhook_signature.h"
#include "tests/support/server_test_support.h"

namespace {

using Clock = std::chrono::system_clock;
using namespace std::chrono_literals;

std::map<std::string, std::string> parse_flags(int argc, char** argv, int from) {
  std::map<std::string, std::string> f;
  for (int i = from; i + 1 < argc; i += 2) f[argv[i]] = argv[i + 1];
  return f;
}

std::string flag(const std::map<std::string, std::string>& f, const std::string& k,
                 const std::string& dflt = "") {
  auto it = f.find(k);
  if (it != f.end()) return it->second;
  if (dflt.empty()) {
    std::cerr << "webhook-load: missing " << k << "\n";
    std::exit(2);
  }
  return dflt;
}

std::string agent_name(int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "bench-%06d", i);
  return buf;
}

int seed(const std::map<std::string, std::string>& f) {
  const std::string db = flag(f, "--ledger");
  const int agents = std::stoi(flag(f, "--agents"));
  ps::testing::create_ledger(db);
  ps::testing::RawLedger raw(db);
  raw.exec("BEGIN");
  const auto now = Clock::now();
  for (int i = 0; i < agents; ++i) ps::testing::seed_ready_agent(raw, agent_name(i), 0, now);
  raw.exec("COMMIT");
  std::cout << "seeded " << agents << " agents into " << db << "\n";
  return 0;
}

struct Job {
  int index = 0;
  Clock::time_point due;
  std::string id;
  std::string body;
  std::string agent;
  bool duplicate = false;
};

struct Outcome {
  Job job;
  int status = 0;
  Clock::time_point done;
  std::int64_t promotion_id = 0;
};

double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto idx = static_cast<std::size_t>(std::min<double>(v.size() - 1, p * (v.size() - 1) + 0.5));
  return v[idx];
}

void summarize(const char* what, const std::vector<double>& v) {
  std::printf("  %-34s n=%-6zu p50=%7.2f ms  p90=%7.2f ms  p99=%7.2f ms  max=%7.2f ms\n", what,
              v.size(), percentile(v, 0.5), percentile(v, 0.9), percentile(v, 0.99),
              v.empty() ? 0.0 : *std::max_element(v.begin(), v.end()));
}

// The sync worker's verification time per agent (sidecar_outbox.synced_at), once drained.
std::map<std::string, Clock::time_point> synced_times(const std::string& db, std::size_t expect,
                                                      std::chrono::seconds wait) {
  std::map<std::string, Clock::time_point> out;
  sqlite3* h = nullptr;
  if (sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) return out;
  sqlite3_busy_timeout(h, 5000);
  const auto deadline = std::chrono::steady_clock::now() + wait;
  for (;;) {
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(h, "SELECT count(*) FROM sidecar_outbox WHERE state = 'synced'", -1, &st, nullptr);
    std::size_t synced = 0;
    if (sqlite3_step(st) == SQLITE_ROW) synced = static_cast<std::size_t>(sqlite3_column_int64(st, 0));
    sqlite3_finalize(st);
    if (synced >= expect || std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(200ms);
  }
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(h, "SELECT agent_id, synced_at FROM sidecar_outbox WHERE synced_at IS NOT NULL",
                     -1, &st, nullptr);
  while (sqlite3_step(st) == SQLITE_ROW) {
    const std::string agent = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    auto t = ps::engine::parse_iso8601(reinterpret_cast<const char*>(sqlite3_column_text(st, 1)));
    if (t) out[agent] = *t;
  }
  sqlite3_finalize(st);
  sqlite3_close(h);
  return out;
}

int run(const std::map<std::string, std::string>& f) {
  const std::string url = flag(f, "--url");
  const std::string ca = flag(f, "--ca");
  const int agents = std::stoi(flag(f, "--agents"));
  const double rate = std::stod(flag(f, "--rate"));
  const double duration = std::stod(flag(f, "--duration"));
  const int connections = std::stoi(flag(f, "--connections", "16"));
  const double dup_fraction = std::stod(flag(f, "--duplicates", "0.1"));
  std::ifstream sf(flag(f, "--secrets"));
  std::string secret_text;
  std::getline(sf, secret_text);
  auto secret = ps::sidecar::WebhookSecret::parse(secret_text);
  if (!secret.ok()) {
    std::cerr << "webhook-load: bad secret file\n";
    return 2;
  }
  const auto colon = url.rfind(':');
  const std::string host = url.substr(url.find("://") + 3, colon - url.find("://") - 3);
  const int port = std::stoi(url.substr(colon + 1));
  const int total = static_cast<int>(rate * duration);

  std::mutex mu;
  std::condition_variable cv;
  std::deque<Job> queue;
  bool done_scheduling = false;
  std::vector<Outcome> outcomes;
  outcomes.reserve(static_cast<std::size_t>(total));

  std::vector<std::thread> workers;
  for (int c = 0; c < connections; ++c) {
    workers.emplace_back([&] {
      httplib::SSLClient cli(host, port);
      cli.set_ca_cert_path(ca.c_str());
      cli.enable_server_certificate_verification(true);
      cli.set_keep_alive(true);
      cli.set_tcp_nodelay(true);  // as curl and most clients: no Nagle delay between header and body
      cli.set_read_timeout(30, 0);
      for (;;) {
        Job job;
        {
          std::unique_lock<std::mutex> lock(mu);
          cv.wait(lock, [&] { return !queue.empty() || done_scheduling; });
          if (queue.empty()) return;
          job = std::move(queue.front());
          queue.pop_front();
        }
        const std::string ts = std::to_string(
            std::chrono::duration_cast<std::chrono::seconds>(Clock::now().time_since_epoch()).count());
        const std::string sig = ps::sidecar::server::sign_webhook(*secret, job.id, ts, job.body);
        auto r = cli.Post("/v1/webhooks/approval",
                          httplib::Headers{{"webhook-id", job.id}, {"webhook-timestamp", ts},
                                           {"webhook-signature", sig}},
                          job.body, "application/json");
        Outcome o;
        o.done = Clock::now();
        o.status = r ? r->status : 0;
        if (r && r->status == 200) {
          auto j = nlohmann::json::parse(r->body, nullptr, false);
          if (j.contains("data") && j["data"].contains("promotion_id")) {
            o.promotion_id = j["data"]["promotion_id"].get<std::int64_t>();
          }
        }
        o.job = std::move(job);
        std::lock_guard<std::mutex> lock(mu);
        outcomes.push_back(std::move(o));
      }
    });
  }

  // The schedule: request i is due at start + i / rate.
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<std::pair<std::string, std::string>> sent;  // (id, body) of new deliveries
  int next_agent = 0;
  const auto start = Clock::now() + 100ms;
  for (int i = 0; i < total; ++i) {
    Job job;
    job.index = i;
    job.due = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(i / rate));
    if (!sent.empty() && u(rng) < dup_fraction) {
      const auto& [id, body] = sent[static_cast<std::size_t>(u(rng) * static_cast<double>(sent.size()))];
      job.id = id;
      job.body = body;
      job.duplicate = true;
    } else {
      if (next_agent >= agents) break;
      job.agent = agent_name(next_agent++);
      job.id = "bench-" + job.agent;
      job.body = ps::testing::approval_body(job.agent, 1, "bench");
      sent.emplace_back(job.id, job.body);
    }
    std::this_thread::sleep_until(job.due);
    {
      std::lock_guard<std::mutex> lock(mu);
      queue.push_back(std::move(job));
    }
    cv.notify_one();
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    done_scheduling = true;
  }
  cv.notify_all();
  for (auto& w : workers) w.join();

  std::vector<double> commit_new, commit_dup;
  int errors = 0, promoted = 0;
  Clock::time_point last_done = start;
  std::map<std::string, Clock::time_point> due_of;
  for (const auto& o : outcomes) {
    last_done = std::max(last_done, o.done);
    if (o.status != 200) {
      ++errors;
      continue;
    }
    (o.job.duplicate ? commit_dup : commit_new).push_back(ms(o.done - o.job.due));
    if (!o.job.duplicate) {
      ++promoted;
      due_of[o.job.agent] = o.job.due;
    }
  }
  const double elapsed = std::chrono::duration<double>(last_done - start).count();
  std::printf("webhook-load: %zu requests at %.0f/s over %d connections (%.0f%% repeats), %.1f s\n",
              outcomes.size(), rate, connections, dup_fraction * 100, elapsed);
  std::printf("  sustained: %.1f approvals/s committed (%d promotions, %d non-200 answers)\n",
              promoted / elapsed, promoted, errors);
  summarize("due -> committed answer (new)", commit_new);
  summarize("due -> answer (repeated id)", commit_dup);

  if (f.count("--ledger")) {
    auto synced = synced_times(f.at("--ledger"), static_cast<std::size_t>(promoted), 120s);
    std::vector<double> verified;
    for (const auto& [agent, due] : due_of) {
      auto it = synced.find(agent);
      if (it != synced.end()) verified.push_back(ms(it->second - due));
    }
    summarize("due -> Vault verified (read back)", verified);
    std::printf("  verified %zu of %d promotions\n", verified.size(), promoted);
  }
  if (f.count("--vault-addr")) {
    const std::string va = f.at("--vault-addr");
    const auto vc = va.rfind(':');
    httplib::SSLClient vault("127.0.0.1", std::stoi(va.substr(vc + 1)));
    vault.set_ca_cert_path(ca.c_str());
    vault.enable_server_certificate_verification(true);
    // One kept-alive connection without Nagle: a new TLS connection per role, or Nagle with
    // delayed ACKs, made the check of a few thousand roles take minutes.
    vault.set_keep_alive(true);
    vault.set_tcp_nodelay(true);
    int match = 0;
    for (const auto& [agent, due] : due_of) {
      auto r = vault.Get(("/v1/auth/approle/role/agent-" + agent + "/policies").c_str(),
                         httplib::Headers{{"X-Vault-Token", flag(f, "--vault-token")}});
      if (r && r->status == 200 &&
          nlohmann::json::parse(r->body)["data"]["token_policies"] == nlohmann::json{"t1-observer"}) {
        ++match;
      }
    }
    std::printf("  Vault check: %d of %zu roles hold t1-observer\n", match, due_of.size());
  }
  return errors == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: webhook-load seed|run ... (see tests/bench/webhook/webhook_load.cpp)\n";
    return 2;
  }
  const std::string mode = argv[1];
  const auto flags = parse_flags(argc, argv, 2);
  if (mode == "seed") return seed(flags);
  if (mode == "run") return run(flags);
  std::cerr << "webhook-load: unknown mode " << mode << "\n";
  return 2;
}
