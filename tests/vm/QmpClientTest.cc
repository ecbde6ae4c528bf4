#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <optional>
#include <thread>

#include "server/net/ChildProcess.h"
#include "vm/Driver.h"
#include "vm/QmpClient.h"

namespace berth::vm {
namespace {

// Whether something accepts connections on the unix socket PATH. QEMU creates the socket file
// at bind(), a moment before listen(): a connect in between is refused.
bool accepts(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

// A real QEMU with no machine at all: starts in milliseconds and serves QMP.
class QmpClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (net::ChildProcess::which("qemu-system-x86_64").empty())
      GTEST_SKIP() << "qemu-system-x86 not installed";
    char tmpl[] = "/tmp/b-qemu-qmpXXXXXX";
    dir_ = mkdtemp(tmpl);
    socket_ = dir_ + "/qmp.sock";
    net::SpawnOptions spawn;
    spawn.argv = {
        "qemu-system-x86_64", "-machine", "none", "-nodefaults",
        "-display",           "none",     "-qmp", "unix:" + socket_ + ",server=on,wait=off"};
    spawn.output = dir_ + "/qemu.log";
    qemu_.emplace(net::ChildProcess::spawn(spawn));
    for (int i = 0; i < 200 && !accepts(socket_); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  void TearDown() override {
    if (qemu_) qemu_->stop(std::chrono::milliseconds(0), SIGKILL);
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  std::string dir_, socket_;
  std::optional<net::ChildProcess> qemu_;
};

TEST_F(QmpClientTest, ExecutesCommandsAndHumanMonitorCommands) {
  QmpClient qmp(std::chrono::seconds(10));
  qmp.connect(socket_);
  auto status = qmp.execute("query-status");
  EXPECT_TRUE(status.contains("running"));
  auto version = qmp.human("info version");
  EXPECT_NE(version.find('.'), std::string::npos);
}

TEST_F(QmpClientTest, AQmpErrorThrowsWithQemusDescription) {
  QmpClient qmp(std::chrono::seconds(10));
  qmp.connect(socket_);
  try {
    qmp.execute("no-such-command");
    FAIL() << "expected a DriverError";
  } catch (const DriverError& e) {
    EXPECT_NE(std::string(e.what()).find("no-such-command"), std::string::npos) << e.what();
  }
}

TEST_F(QmpClientTest, QuitEndsQemu) {
  QmpClient qmp(std::chrono::seconds(10));
  qmp.connect(socket_);
  qmp.execute("quit");
  auto status = qemu_->wait(std::chrono::seconds(5));
  ASSERT_TRUE(status);
  EXPECT_EQ(status->signal, 0);
}

TEST(QmpClient, NoSocketIsAClearError) {
  QmpClient qmp(std::chrono::seconds(1));
  EXPECT_THROW(qmp.connect("/tmp/b-qemu-does-not-exist.sock"), DriverError);
}

}  // namespace
}  // namespace berth::vm
