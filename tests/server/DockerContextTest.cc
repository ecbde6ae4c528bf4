#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "server/cli/DockerContext.h"

namespace berth::cli {
namespace {

TEST(DockerContextTest, WritesActivatesAndRemovesKeepingOtherKeys) {
  char dir_template[] = "/tmp/b-ctx-XXXXXX";
  const std::string dir = ::mkdtemp(dir_template);
  ::setenv("DOCKER_CONFIG", dir.c_str(), 1);
  {
    std::ofstream out(dir + "/config.json");
    out << R"({"auths": {"r.example": {"auth": "eA=="}}, "currentContext": "other"})";
  }
  DockerContext::write("berth-x", "berth profile x", "unix:///tmp/x/docker.sock");
  // The docker CLI keys its store by the sha256 of the name.
  const std::string meta =
      dir + "/contexts/meta/" +
      "5c2f64c7f21efd5fb5e3d6a499abe5eacb248ae6f6f0085387c9a056d10ef5fd/meta.json";
  EXPECT_TRUE(std::filesystem::exists(DockerContext::metaFile("berth-x")));
  EXPECT_EQ(DockerContext::metaFile("berth"), meta);
  std::ifstream in(DockerContext::metaFile("berth-x"));
  auto context = nlohmann::json::parse(in);
  EXPECT_EQ(context["Name"], "berth-x");
  EXPECT_EQ(context["Endpoints"]["docker"]["Host"], "unix:///tmp/x/docker.sock");

  DockerContext::activate("berth-x");
  EXPECT_EQ(DockerContext::current(), "berth-x");
  EXPECT_TRUE(DockerContext::remove("berth-x"));
  EXPECT_EQ(DockerContext::current(), "");
  std::ifstream config_in(dir + "/config.json");
  auto config = nlohmann::json::parse(config_in);
  EXPECT_EQ(config["auths"]["r.example"]["auth"], "eA==");
  EXPECT_FALSE(std::filesystem::exists(DockerContext::metaFile("berth-x")));
  ::unsetenv("DOCKER_CONFIG");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace berth::cli
