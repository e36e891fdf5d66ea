// ps-gen-ledger: writes a random, realistic governance ledger (see ledger_gen.h).
//
//   ps-gen-ledger --out FILE [--agents N] [--actions M] [--seed S] [--now ISO] [--invalid]
//                 [--schema FILE] [--force]
#include <cstdlib>
#include <iostream>
#include <string>

#include "engine/rules/timestamp.h"
#include "tests/support/ledger_gen.h"

namespace {

int usage(const std::string& msg) {
  std::cerr << "ps-gen-ledger: " << msg
            << "\nusage: ps-gen-ledger --out FILE [--agents N] [--actions M] [--seed S] "
               "[--now ISO] [--invalid] [--schema FILE] [--force]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  ps::testing::GenOptions o;
  o.now = std::chrono::system_clock::now();
  const char* schema_env = std::getenv("PS_UPSTREAM_SCHEMA");
  o.schema_path = schema_env ? schema_env : PS_DEFAULT_UPSTREAM_SCHEMA;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(arg + " needs a value");
      return argv[++i];
    };
    try {
      if (arg == "--out") {
        o.out = value();
      } else if (arg == "--agents") {
        o.agents = std::stoll(value());
      } else if (arg == "--actions") {
        o.actions = std::stoll(value());
      } else if (arg == "--seed") {
        o.seed = std::stoull(value());
      } else if (arg == "--now") {
        const std::string v = value();
        auto t = ps::engine::parse_iso8601(v);
        if (!t) return usage("--now: not an ISO-8601 time: " + v);
        o.now = *t;
      } else if (arg == "--schema") {
        o.schema_path = value();
      } else if (arg == "--invalid") {
        o.invalid = true;
      } else if (arg == "--force") {
        o.overwrite = true;
      } else {
        return usage("unknown argument " + arg);
      }
    } catch (const std::exception& e) {
      return usage(std::string("bad value: ") + e.what());
    }
  }
  if (o.out.empty()) return usage("--out is required");
  if (o.agents < 0 || o.actions < 0) return usage("--agents and --actions must be >= 0");
  try {
    const auto s = ps::testing::generate_ledger(o);
    std::cout << "generated " << o.out << ": " << s.agents << " agents, " << s.actions
              << " actions, " << s.violations << " violations, " << s.promotions
              << " promotions (seed " << o.seed << ", now "
              << ps::engine::format_isoformat_utc(o.now) << ")\n";
    for (const auto& [agent, what] : s.invalid_agents) {
      std::cout << "invalid: " << agent << " (" << what << ")\n";
    }
  } catch (const std::exception& e) {
    std::cerr << e.what() << '\n';
    return 1;
  }
  return 0;
}
