// Every agent's facts from the all-agents scan as evidence JSON (all window fields, action
// types in order), then the problems: what `eligible` is made of, as one comparable string.
// Header-only: for tests that link ps_ledger.
#pragma once

#include <boost/test/unit_test.hpp>
#include <memory>
#include <string>

#include "engine/rules/evaluation_json.h"
#include "engine/ledger/ledger.h"

namespace ps::testing {

inline std::string all_facts_text(engine::Ledger& l, engine::WallTime now) {
  auto all = l.all_agent_facts(now);
  BOOST_REQUIRE_MESSAGE(all.ok(), all.status().message());
  std::string out;
  for (const auto& f : all->agents) {
    engine::Evidence ev;
    ev.kind = engine::Evidence::Kind::full;
    ev.facts = f;
    ev.requirements = std::make_shared<engine::TierRequirements>();
    out += engine::evidence_json_compact(ev) + "\n";
  }
  for (const auto& p : all->problems) out += "problem " + p.message + "\n";
  return out;
}

}  // namespace ps::testing
