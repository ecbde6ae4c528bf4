#include <gtest/gtest.h>

#include "vm/ContainerdRuntime.h"
#include "vm/ProfileConfig.h"
#include "vm/ProfilePaths.h"
#include "vm/Runtime.h"

namespace berth::vm {
namespace {

TEST(RuntimeTest, NamesPickTheRuntimeAndItsHostSockets) {
  auto docker = Runtime::make("docker");
  EXPECT_EQ(docker->name(), "docker");
  EXPECT_EQ(docker->engineProgram(), "dockerd");
  EXPECT_TRUE(docker->servesDockerApi());
  EXPECT_FALSE(docker->servesContainerdApi());
  auto containerd = Runtime::make("containerd");
  EXPECT_EQ(containerd->engineProgram(), "containerd");
  EXPECT_FALSE(containerd->servesDockerApi());
  EXPECT_TRUE(containerd->servesContainerdApi());
  EXPECT_FALSE(containerd->writesOwnPidFile());
  // What `berth update` moves and restarts in a VM guest.
  EXPECT_EQ(docker->guestPackage(), "docker.io");
  EXPECT_EQ(docker->guestService(), "docker");
  EXPECT_EQ(containerd->guestPackage(), "containerd");
  EXPECT_EQ(containerd->guestService(), "containerd");
  EXPECT_THROW(Runtime::make("podman"), DriverError);
}

// berth's containerd config keeps root, state and socket where it says, quoted for TOML.
TEST(RuntimeTest, ContainerdDefaultConfigPlacesEverythingUnderTheProfile) {
  const std::string text = ContainerdRuntime::defaultConfig(
      "/h/p/guest/engine.sock", "/h/p/guest/data/containerd", "/h/p/guest/containerd-state");
  EXPECT_NE(text.find("version = 2\n"), std::string::npos);
  EXPECT_NE(text.find("root = \"/h/p/guest/data/containerd\"\n"), std::string::npos);
  EXPECT_NE(text.find("state = \"/h/p/guest/containerd-state\"\n"), std::string::npos);
  EXPECT_NE(text.find("address = \"/h/p/guest/engine.sock\"\n"), std::string::npos);
  EXPECT_NE(text.find("path = \"/h/p/guest/data/containerd/opt\"\n"), std::string::npos);
  const std::string odd = ContainerdRuntime::defaultConfig("/a\"b/s", "/r\\x", "/s");
  EXPECT_NE(odd.find("address = \"/a\\\"b/s\""), std::string::npos) << odd;
  EXPECT_NE(odd.find("root = \"/r\\\\x\""), std::string::npos) << odd;
}

// runc's state: containerd's runc shim keeps it at a fixed root unless the client says
// otherwise; each containerd guest gets its profile's directory there, docker none.
TEST(RuntimeTest, ContainerdGuestsMountTheirProfilesRuncRootAndDockerNothing) {
  const ProfileConfig config = ProfileConfig::defaults();
  const ProfilePaths paths = ProfilePaths::forProfile("c", "/h");
  const NsEngineLayout layout{config, paths, paths.engine_socket, "/run/berth/x", "", "/p"};
  const auto binds = Runtime::make("containerd")->nsBinds(layout);
  ASSERT_EQ(binds.size(), 1u);
  EXPECT_EQ(binds[0].profile_dir, paths.state_dir + "/runc");
  EXPECT_EQ(binds[0].guest_path, "/run/containerd/runc");
  EXPECT_TRUE(Runtime::make("docker")->nsBinds(layout).empty());
  EXPECT_EQ(ContainerdRuntime::guestNerdctl(paths), paths.state_dir + "/bin/nerdctl");
}

}  // namespace
}  // namespace berth::vm
