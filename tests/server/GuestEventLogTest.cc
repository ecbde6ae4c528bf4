#include <gtest/gtest.h>

#include "server/GuestEventLog.h"

namespace berth::server {
namespace {

TEST(GuestEventLogTest, AReaderGetsOnlyWhatItHasNotSeenInOrder) {
  GuestEventLog log;
  EXPECT_TRUE(log.since(0).empty());
  log.add("booting", "ns driver");
  log.add("up", "in 1.2 s");
  const auto all = log.since(0);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0]["action"], "booting");
  EXPECT_EQ(all[0]["detail"], "ns driver");
  EXPECT_EQ(all[1]["action"], "up");
  EXPECT_GT(all[1]["seq"].get<std::uint64_t>(), all[0]["seq"].get<std::uint64_t>());
  EXPECT_GT(all[0]["time"].get<double>(), 1.7e9);  // the wall clock, as the engine's events
  const auto last_seen = all[1]["seq"].get<std::uint64_t>();
  EXPECT_TRUE(log.since(last_seen).empty());
  log.add("idle stop", "no client for 30s");
  const auto fresh = log.since(last_seen);
  ASSERT_EQ(fresh.size(), 1u);
  EXPECT_EQ(fresh[0]["action"], "idle stop");
}

TEST(GuestEventLogTest, KeepsOnlyTheLastCapacityEvents) {
  GuestEventLog log(3);
  for (int i = 0; i < 5; ++i) log.add("up", std::to_string(i));
  const auto kept = log.since(0);
  ASSERT_EQ(kept.size(), 3u);
  EXPECT_EQ(kept[0]["detail"], "2");
  EXPECT_EQ(kept[2]["detail"], "4");
  EXPECT_EQ(kept[2]["seq"], 5);
}

}  // namespace
}  // namespace berth::server
