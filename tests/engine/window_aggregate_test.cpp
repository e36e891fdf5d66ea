// The flat structures of the all-agents scan: string interning and per-agent window
// aggregates.
#include <boost/test/unit_test.hpp>

#include <set>

#include "engine/ledger/window_aggregate.h"

using namespace ps::engine;

BOOST_AUTO_TEST_SUITE(window_aggregate)

BOOST_AUTO_TEST_CASE(string_index_tells_apart_keys_that_share_their_ends) {
  StringIndex index(4);  // small, so it grows while adding
  std::vector<std::string> keys = {"", "a", "ab", std::string(1, '\0'), std::string(2, '\0')};
  for (std::size_t n = 1; n <= 40; ++n) {
    keys.push_back(std::string(n, 'x'));
    std::string middle(n, 'x');
    middle[n / 2] = 'y';  // same first and last 8 bytes as the one above when n > 16
    keys.push_back(middle);
  }
  keys.push_back("agent-\xC3\xA9t\xC3\xA9-000011");
  std::vector<std::uint32_t> ids;
  for (const auto& k : keys) ids.push_back(index.add(k));
  BOOST_TEST(index.size() == std::set<std::string>(keys.begin(), keys.end()).size());
  for (std::size_t i = 0; i < keys.size(); ++i) {
    BOOST_TEST(index.find(keys[i]) == ids[i], "key #" << i);
    BOOST_TEST(index.key(ids[i]) == keys[i]);
    BOOST_TEST(index.add(keys[i]) == ids[i]);
  }
  BOOST_TEST(index.find("absent") == StringIndex::kNotFound);
  BOOST_TEST(index.find(std::string(41, 'x')) == StringIndex::kNotFound);
  const std::uint32_t anonymous = index.add_anonymous();
  BOOST_TEST(anonymous == index.size() - 1);
  BOOST_TEST(index.find("") == ids[0]);
}

BOOST_AUTO_TEST_CASE(aggregate_counts_and_orders_actions_by_first_rowid) {
  WindowAggregate w(2);
  w.add(0, "b", true, false, 50);
  w.add(1, "z", true, true, 1);
  w.add(0, "a", false, false, 20);
  w.add(0, "b", true, true, 10);
  for (int i = 0; i < 12; ++i) {  // overflow
    std::string type = "t";  // not "t" + std::to_string(i): a GCC 12 -Wrestrict false positive
    type += std::to_string(i);
    w.add(0, type, false, false, 100 - i);
  }
  AgentFacts f;
  w.finish(0, f);
  BOOST_TEST(f.total_actions == 15);
  BOOST_TEST(f.successful_actions == 2);
  BOOST_TEST(f.successful_executions == 1);
  BOOST_REQUIRE(f.action_types.size() == 14u);
  BOOST_TEST(f.action_types[0] == "b");
  BOOST_TEST(f.action_types[1] == "a");
  BOOST_TEST(f.action_types[2] == "t11");
  BOOST_TEST(f.action_types[13] == "t0");
  w.reset(0);
  w.finish(0, f);
  BOOST_TEST(f.total_actions == 0);
  BOOST_TEST(f.action_types.empty());
  AgentFacts g;
  w.finish(1, g);
  BOOST_TEST(g.action_types == std::vector<std::string>{"z"}, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_SUITE_END()
