#include <gtest/gtest.h>

#include <algorithm>

#include "vm/QemuCommandLine.h"

namespace berth::vm {
namespace {

QemuLaunchSpec spec() {
  QemuLaunchSpec s;
  s.kernel = "/img/vmlinuz";
  s.initrd = "/img/initrd.img";
  s.disk = "/p/disk.qcow2";
  s.config_dir = "/p/config";
  s.shares = {{"/home/u", "/home/u", true}, {"/data,1", "/mnt/data", false}};
  s.ssh_port = 21022;
  s.engine_port = 21076;
  s.qmp_socket = "/p/qmp.sock";
  s.pid_file = "/p/qemu.pid";
  s.serial_log = "/p/serial.log";
  return s;
}

bool has(const std::vector<std::string>& argv, const std::string& flag, const std::string& value) {
  for (size_t i = 0; i + 1 < argv.size(); ++i)
    if (argv[i] == flag && argv[i + 1] == value) return true;
  return false;
}

TEST(QemuCommandLine, TcgUsesASmallTranslationCache) {
  auto argv = QemuCommandLine::build(spec());
  EXPECT_EQ(argv.front(), "qemu-system-x86_64");
  EXPECT_TRUE(has(argv, "-accel", "tcg,tb-size=256"));
  EXPECT_TRUE(has(argv, "-cpu", "max"));
  EXPECT_TRUE(has(argv, "-smp", "2"));
  EXPECT_TRUE(has(argv, "-m", "2048"));
}

TEST(QemuCommandLine, KvmUsesTheHostCpu) {
  auto s = spec();
  s.accel = "kvm";
  auto argv = QemuCommandLine::build(s);
  EXPECT_TRUE(has(argv, "-accel", "kvm"));
  EXPECT_TRUE(has(argv, "-cpu", "host"));
}

TEST(QemuCommandLine, ForwardsSshAndTheTlsEngineOnLoopbackOnly) {
  auto argv = QemuCommandLine::build(spec());
  EXPECT_TRUE(
      has(argv, "-netdev",
          "user,id=net0,hostfwd=tcp:127.0.0.1:21022-:22,hostfwd=tcp:127.0.0.1:21076-:2376"));
}

TEST(QemuCommandLine, NoEnginePortMeansNoForwardToIt) {
  auto s = spec();
  s.engine_port = 0;  // containerd: nothing listens on the guest's 2376
  EXPECT_TRUE(
      has(QemuCommandLine::build(s), "-netdev", "user,id=net0,hostfwd=tcp:127.0.0.1:21022-:22"));
  EXPECT_NE(QemuCommandLine::machineKey(s), QemuCommandLine::machineKey(spec()));
}

TEST(QemuCommandLine, SharesAreTaggedInOrderAndCommasEscaped) {
  auto argv = QemuCommandLine::build(spec());
  EXPECT_TRUE(has(argv, "-virtfs",
                  "local,path=/p/config,mount_tag=berth-config,security_model=none,readonly=on"));
  EXPECT_TRUE(has(argv, "-virtfs", "local,path=/home/u,mount_tag=share0,security_model=none"));
  EXPECT_TRUE(
      has(argv, "-virtfs", "local,path=/data,,1,mount_tag=share1,security_model=none,readonly=on"));
}

TEST(QemuCommandLine, VirtiofsSharesUseVhostUserWithSharedMemory) {
  auto s = spec();
  s.virtiofs_sockets = {"/p/vfs0.sock", "/p/vfs1.sock"};
  auto argv = QemuCommandLine::build(s);
  EXPECT_TRUE(has(argv, "-object", "memory-backend-memfd,id=mem,size=2048M,share=on"));
  EXPECT_TRUE(has(argv, "-numa", "node,memdev=mem"));
  EXPECT_TRUE(has(argv, "-chardev", "socket,id=vfs1,path=/p/vfs1.sock"));
  EXPECT_TRUE(has(argv, "-device", "vhost-user-fs-pci,chardev=vfs1,tag=share1"));
  // The config share stays 9p; the shares themselves are not exported twice.
  EXPECT_EQ(std::count(argv.begin(), argv.end(), "-virtfs"), 1);
}

TEST(QemuCommandLine, LoadvmOnlyWhenResuming) {
  auto s = spec();
  auto argv = QemuCommandLine::build(s);
  EXPECT_EQ(std::find(argv.begin(), argv.end(), "-loadvm"), argv.end());
  s.loadvm_tag = "berth-resume";
  EXPECT_TRUE(has(QemuCommandLine::build(s), "-loadvm", "berth-resume"));
}

TEST(QemuCommandLine, MachineKeyIgnoresPortsAndSocketsButNotTheMachine) {
  auto a = spec();
  auto b = spec();
  b.ssh_port = 1;
  b.engine_port = 2;
  b.qmp_socket = "/elsewhere";
  b.loadvm_tag = "x";
  EXPECT_EQ(QemuCommandLine::machineKey(a), QemuCommandLine::machineKey(b));
  b.memory_mib = 4096;
  EXPECT_NE(QemuCommandLine::machineKey(a), QemuCommandLine::machineKey(b));
  auto c = spec();
  c.shares.pop_back();
  EXPECT_NE(QemuCommandLine::machineKey(a), QemuCommandLine::machineKey(c));
}

}  // namespace
}  // namespace berth::vm
