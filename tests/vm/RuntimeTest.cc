#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

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

// The status shows the server's own version: the Server part of `ctr version`, never the
// client's (the host's ctr may differ from the guest's containerd).
TEST(RuntimeTest, ContainerdServerVersionIsReadFromTheServerPart) {
  const std::string both =
      "Client:\n  Version:  1.6.20~ds1\n  Revision: 1.6.20~ds1-1+b1\n  Go version: go1.19.8\n\n"
      "Server:\n  Version:  1.7.24\n  Revision: 1.7.24-1\n  UUID: 0b6c1f6e";
  EXPECT_EQ(ContainerdRuntime::serverVersion(both), "1.7.24");
  // No server answered: ctr prints the client part and its error.
  EXPECT_EQ(ContainerdRuntime::serverVersion("Client:\n  Version:  1.6.20~ds1\n"
                                             "ctr: failed to dial \"/x\": context deadline"),
            "");
  EXPECT_EQ(ContainerdRuntime::serverVersion("Client:\n  Version:  1.6.20~ds1\n\nServer:"), "");
  EXPECT_EQ(ContainerdRuntime::serverVersion(""), "");
  // Runtimes that show no version in the status ask nothing.
  EXPECT_EQ(Runtime::make("docker")->engineVersion({}, std::chrono::milliseconds(1)), "");
}

// runc's state: containerd's runc shim keeps it at a fixed root unless the client says
// otherwise; each containerd guest gets its profile's directory there, docker none.
TEST(RuntimeTest, GuestsMountTheirRuncRootOrAnEmptyContainerdRun) {
  const ProfileConfig config = ProfileConfig::defaults();
  const ProfilePaths paths = ProfilePaths::forProfile("c", "/h");
  const NsEngineLayout layout{config, paths, paths.engine_socket, "/run/berth/x", "", "/p"};
  const auto binds = Runtime::make("containerd")->nsBinds(layout);
  ASSERT_EQ(binds.size(), 1u);
  EXPECT_EQ(binds[0].profile_dir, paths.state_dir + "/runc");
  EXPECT_EQ(binds[0].guest_path, "/run/containerd/runc");
  // docker: an empty /run/containerd, so that dockerd starts its own containerd.
  const auto docker_binds = Runtime::make("docker")->nsBinds(layout);
  ASSERT_EQ(docker_binds.size(), 1u);
  EXPECT_EQ(docker_binds[0].profile_dir, paths.state_dir + "/run-containerd");
  EXPECT_EQ(docker_binds[0].guest_path, "/run/containerd");
  EXPECT_EQ(ContainerdRuntime::guestNerdctl(paths), paths.state_dir + "/bin/nerdctl");
}

// The guest's cgroup is no systemd slice: dockerd gets the cgroupfs driver whatever the
// profile's docker.exec-opts say, and keeps the other options.
TEST(RuntimeTest, DockerGuestsUseTheCgroupfsDriverForTheirCgroupParent) {
  char tmpl[] = "/tmp/b-runtime-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  ProfileConfig config = ProfileConfig::defaults();
  config.docker = {{"exec-opts", {"native.cgroupdriver=systemd", "native.umask=normal"}}};
  const ProfilePaths paths = ProfilePaths::forProfile("d", tmpl);
  std::filesystem::create_directories(paths.state_dir);
  const NsEngineLayout layout{config,         paths,      paths.engine_socket,
                              "/run/berth/x", "/berth-1", paths.state_dir + "/dockerd.pid"};
  Runtime::make("docker")->nsArgv(layout);
  std::ifstream in(paths.state_dir + "/daemon.json");
  const auto daemon = nlohmann::json::parse(in);
  EXPECT_EQ(daemon.at("cgroup-parent"), "/berth-1");
  EXPECT_EQ(daemon.at("exec-opts"),
            nlohmann::json({"native.umask=normal", "native.cgroupdriver=cgroupfs"}));
  std::filesystem::remove_all(tmpl);
}

}  // namespace
}  // namespace berth::vm
