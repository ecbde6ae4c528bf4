#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "forwarding/WakeLabels.h"

namespace berth::fwd {
namespace {

using std::chrono::milliseconds;

TEST(WakeLabelsTest, NoLabelsAskForNothing) {
  for (const auto& labels : {nlohmann::json(), nlohmann::json::object(), nlohmann::json("x"),
                             nlohmann::json{{"com.example", "1"}}}) {
    const auto parsed = WakeLabels::parse(labels);
    EXPECT_FALSE(parsed.wake);
    EXPECT_EQ(parsed.timeout, WakeLabels::kDefaultTimeout);
    EXPECT_EQ(parsed.idle, milliseconds(0));
    EXPECT_TRUE(parsed.problems.empty());
  }
}

TEST(WakeLabelsTest, WakeTimeoutAndIdleAreRead) {
  const auto parsed = WakeLabels::parse(
      {{"berth.wake", "true"}, {"berth.wake.timeout", "1m30s"}, {"berth.idle", "3s"}});
  EXPECT_TRUE(parsed.wake);
  EXPECT_EQ(parsed.timeout, milliseconds(90'000));
  EXPECT_EQ(parsed.idle, milliseconds(3'000));
  EXPECT_TRUE(parsed.problems.empty());
}

TEST(WakeLabelsTest, BooleanSpellingsAsComposeWritesThem) {
  for (const char* yes : {"true", "True", "TRUE", "1", "yes"})
    EXPECT_TRUE(WakeLabels::parse({{"berth.wake", yes}}).wake) << yes;
  for (const char* no : {"false", "False", "0", "no", ""}) {
    const auto parsed = WakeLabels::parse({{"berth.wake", no}});
    EXPECT_FALSE(parsed.wake) << no;
    EXPECT_TRUE(parsed.problems.empty()) << no;
  }
}

TEST(WakeLabelsTest, ABadWakeValueIsNamedAndDoesNotWake) {
  const auto parsed = WakeLabels::parse({{"berth.wake", "sometimes"}});
  EXPECT_FALSE(parsed.wake);
  ASSERT_EQ(parsed.problems.size(), 1u);
  EXPECT_EQ(parsed.problems[0],
            "berth.wake=\"sometimes\" is not true or false: the container does not wake on "
            "connect");
}

TEST(WakeLabelsTest, ABadTimeoutKeepsTheDefault) {
  for (const char* bad : {"soon", "0", "30", "-5s", "5 s"}) {
    const auto parsed = WakeLabels::parse({{"berth.wake", "true"}, {"berth.wake.timeout", bad}});
    EXPECT_TRUE(parsed.wake) << bad;
    EXPECT_EQ(parsed.timeout, WakeLabels::kDefaultTimeout) << bad;
    ASSERT_EQ(parsed.problems.size(), 1u) << bad;
    EXPECT_NE(parsed.problems[0].find("berth.wake.timeout="), std::string::npos);
    EXPECT_NE(parsed.problems[0].find("waiting the default 30s"), std::string::npos);
  }
}

TEST(WakeLabelsTest, ABadIdleNeverStops) {
  const auto parsed = WakeLabels::parse({{"berth.wake", "true"}, {"berth.idle", "3 seconds"}});
  EXPECT_EQ(parsed.idle, milliseconds(0));
  ASSERT_EQ(parsed.problems.size(), 1u);
  EXPECT_EQ(parsed.problems[0],
            "berth.idle=\"3 seconds\" is not a duration (e.g. 30s, 10m; 0 never): never stopped "
            "for idleness");
}

TEST(WakeLabelsTest, IdleZeroMeansNever) {
  const auto parsed = WakeLabels::parse({{"berth.wake", "true"}, {"berth.idle", "0"}});
  EXPECT_EQ(parsed.idle, milliseconds(0));
  EXPECT_TRUE(parsed.problems.empty());
}

TEST(WakeLabelsTest, IdleWithoutWakeIsIgnoredAndSaysWhy) {
  const auto parsed = WakeLabels::parse({{"berth.idle", "10m"}});
  EXPECT_FALSE(parsed.wake);
  EXPECT_EQ(parsed.idle, milliseconds(0));
  ASSERT_EQ(parsed.problems.size(), 1u);
  EXPECT_NE(parsed.problems[0].find("ignored without berth.wake=true"), std::string::npos);
}

TEST(WakeLabelsTest, ANonStringLabelIsTreatedAsAbsent) {
  const auto parsed = WakeLabels::parse({{"berth.wake", true}, {"berth.idle", 3}});
  EXPECT_FALSE(parsed.wake);
  EXPECT_TRUE(parsed.problems.empty());
}

}  // namespace
}  // namespace berth::fwd
