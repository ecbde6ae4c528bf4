#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "api/RestartPolicy.h"

namespace berth::api {
namespace {

nlohmann::json inspect(const std::string& policy, bool running) {
  return {{"HostConfig", {{"RestartPolicy", {{"Name", policy}, {"MaximumRetryCount", 0}}}}},
          {"State", {{"Running", running}}}};
}

TEST(RestartPolicyTest, AlwaysAndUnlessStoppedComeBack) {
  EXPECT_TRUE(comesBackAfterEngineRestart(inspect("always", true)));
  EXPECT_TRUE(comesBackAfterEngineRestart(inspect("unless-stopped", true)));
  EXPECT_FALSE(comesBackAfterEngineRestart(inspect("on-failure", true)));
  EXPECT_FALSE(comesBackAfterEngineRestart(inspect("no", true)));
  EXPECT_FALSE(comesBackAfterEngineRestart(inspect("", true)));
}

TEST(RestartPolicyTest, RunningNowReadsTheState) {
  EXPECT_TRUE(runningNow(inspect("always", true)));
  EXPECT_FALSE(runningNow(inspect("always", false)));
}

// Malformed bodies read as "no" (a field of another type, a missing object).
TEST(RestartPolicyTest, MalformedReadsAsNo) {
  EXPECT_FALSE(comesBackAfterEngineRestart(nlohmann::json::object()));
  EXPECT_FALSE(comesBackAfterEngineRestart({{"HostConfig", {{"RestartPolicy", 3}}}}));
  EXPECT_FALSE(runningNow({{"State", {{"Running", "yes"}}}}));
  EXPECT_FALSE(runningNow(nlohmann::json::array()));
}

}  // namespace
}  // namespace berth::api
