#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "vm/GuestCgroup.h"

namespace berth::vm {
namespace {

// A plain folder stands in for the cgroup mount: it records what berth writes where.
class GuestCgroupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/b-cgroup-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  std::string read(const std::string& relative) const {
    std::ifstream in(root_ + "/" + relative);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  std::string root_;
};

// v2: the limits are on the group, its children get the controllers, and the guest's own
// processes join a leaf child (a group that delegates controllers may hold no process).
TEST_F(GuestCgroupTest, UnifiedPutsTheGuestsProcessesInALeafBesideTheContainers) {
  GuestCgroup group("berth-1", root_, true);
  group.apply(1, 0.25);
  EXPECT_EQ(read("cgroup.subtree_control"), "+cpu +memory");
  EXPECT_EQ(read("berth-1/cpu.max"), "100000 100000");
  EXPECT_EQ(read("berth-1/memory.max"), "268435456");
  EXPECT_EQ(read("berth-1/cgroup.subtree_control"), "+cpu +memory");
  EXPECT_FALSE(std::filesystem::exists(root_ + "/berth-1/memory.swap.max"));  // no swap there
  EXPECT_TRUE(std::filesystem::is_directory(root_ + "/berth-1/engine"));
  EXPECT_EQ(group.procsFiles(), std::vector<std::string>{root_ + "/berth-1/engine/cgroup.procs"});
  EXPECT_EQ(group.cgroupParent(), "/berth-1");

  GuestCgroup two("berth-2", root_, true);
  two.apply(2, 1.5);
  EXPECT_EQ(read("berth-2/cpu.max"), "200000 100000");
  EXPECT_EQ(read("berth-2/memory.max"), "1610612736");
}

TEST_F(GuestCgroupTest, UnifiedRemoveTakesTheEngineLeafAndContainerGroups) {
  for (const char* d : {"/berth-1/engine", "/berth-1/abc123", "/berth-1/abc123/inner"}) {
    std::filesystem::create_directories(root_ + d);
  }
  GuestCgroup("berth-1", root_, true).remove();
  EXPECT_FALSE(std::filesystem::exists(root_ + "/berth-1"));
}

TEST_F(GuestCgroupTest, V1SetsQuotaAndLimitInTheirHierarchies) {
  std::filesystem::create_directories(root_ + "/cpu");
  std::filesystem::create_directories(root_ + "/memory");
  GuestCgroup group("berth-1", root_, false);
  group.apply(2, 0.5);
  EXPECT_EQ(read("cpu/berth-1/cpu.cfs_period_us"), "100000");
  EXPECT_EQ(read("cpu/berth-1/cpu.cfs_quota_us"), "200000");
  EXPECT_EQ(read("memory/berth-1/memory.limit_in_bytes"), "536870912");
  EXPECT_EQ(group.procsFiles(), (std::vector<std::string>{root_ + "/cpu/berth-1/cgroup.procs",
                                                          root_ + "/memory/berth-1/cgroup.procs"}));
}

}  // namespace
}  // namespace berth::vm
