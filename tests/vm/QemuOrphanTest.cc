#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <optional>
#include <thread>

#include "server/net/ChildProcess.h"
#include "server/net/Files.h"
#include "vm/QemuBootRecord.h"
#include "vm/QemuDriver.h"
#include "vm/QemuOrphan.h"
#include "vm/QmpClient.h"

namespace berth::vm {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr const char* kQemu = "qemu-system-x86_64";

// A port of this suite's range (21950-21989) that nothing holds now: ctest runs these tests in
// parallel processes, and two QEMUs cannot forward the same host port.
std::uint16_t pickSshPort() {
  for (int i = 0; i < 40; ++i) {
    const auto port = static_cast<std::uint16_t>(21950 + (getpid() + i) % 40);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    const bool free = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    close(fd);
    if (free) return port;
  }
  return 21950;
}

std::string makeDir(const char* name) {
  std::string tmpl = std::string("/tmp/b-qemu-") + name + "XXXXXX";
  return mkdtemp(tmpl.data());
}

// The "guest left running by a killed daemon": a real QEMU with no machine at all (it starts in
// milliseconds) run as a QemuDriver runs its QEMU: -pidfile and -qmp in the state dir, user
// networking with host forwards. The test process is its parent, as the killed daemon was.
class QemuOrphanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (net::ChildProcess::which(kQemu).empty()) GTEST_SKIP() << "qemu-system-x86 not installed";
    dir_ = makeDir("orphan");
  }
  void TearDown() override {
    if (qemu_ && qemu_->running()) qemu_->stop(0ms, SIGKILL);
    for (const auto& dir : {dir_, other_dir_})
      if (!dir.empty()) fs::remove_all(dir);
  }

  void startQemu(bool with_qmp = true) {
    net::SpawnOptions spawn;
    spawn.argv = {
        kQemu,      "-machine",
        "none",     "-nodefaults",
        "-display", "none",
        "-netdev",  "user,id=net0,hostfwd=tcp:127.0.0.1:" + std::to_string(ssh_port_) + "-:22",
        "-pidfile", QemuOrphan::pidFile(dir_)};
    if (with_qmp) {
      spawn.argv.push_back("-qmp");
      spawn.argv.push_back("unix:" + dir_ + "/qmp.sock,server=on,wait=off");
    }
    spawn.output = dir_ + "/qemu.log";
    qemu_.emplace(net::ChildProcess::spawn(spawn));
    // Ready when the pid file has its pid and the QMP socket listens (QEMU opens it after).
    const auto ready = [&] {
      return net::Files::readTrimmed(QemuOrphan::pidFile(dir_)) == std::to_string(qemu_->pid()) &&
             (!with_qmp || fs::exists(dir_ + "/qmp.sock"));
    };
    for (int i = 0; i < 400 && !ready(); ++i) std::this_thread::sleep_for(25ms);
    ASSERT_TRUE(ready()) << net::Files::readOr(dir_ + "/qemu.log");
  }

  std::string hmp(const std::string& command) {
    QmpClient qmp(10s);
    qmp.connect(dir_ + "/qmp.sock");
    return qmp.human(command);
  }

  QemuOptions options() const {
    QemuOptions options;
    options.profile = "orphan-test";
    options.state_dir = dir_;
    options.disk_image = dir_ + "/no-image";  // a boot after the orphan fails at once
    return options;
  }

  const std::uint16_t ssh_port_ = pickSshPort();
  std::string dir_, other_dir_;
  std::optional<net::ChildProcess> qemu_;
};

TEST_F(QemuOrphanTest, FindsTheQemuThatWroteThePidFileOfThisStateDir) {
  startQemu();
  auto found = QemuOrphan::find(dir_, kQemu);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->pid(), qemu_->pid());
  EXPECT_TRUE(QemuDriver(options()).orphanRunning());
}

TEST_F(QemuOrphanTest, APidFileOfAnotherProfilesQemuIsNotThisProfilesGuest) {
  startQemu();
  other_dir_ = makeDir("other");
  // The same live QEMU, but its command line names the first state dir's pid file.
  net::Files::writeAtomic(QemuOrphan::pidFile(other_dir_), std::to_string(qemu_->pid()) + "\n");
  EXPECT_FALSE(QemuOrphan::find(other_dir_, kQemu));
  QemuOptions other = options();
  other.state_dir = other_dir_;
  EXPECT_FALSE(QemuDriver(other).orphanRunning());
}

TEST_F(QemuOrphanTest, APidThatIsNotALiveQemuIsNotAnOrphan) {
  const std::string pid_file = QemuOrphan::pidFile(dir_);
  EXPECT_FALSE(QemuOrphan::find(dir_, kQemu));  // no pid file
  net::Files::writeAtomic(pid_file, "not a pid\n");
  EXPECT_FALSE(QemuOrphan::find(dir_, kQemu));
  net::Files::writeAtomic(pid_file, std::to_string(::getpid()) + "\n");  // alive, not QEMU
  EXPECT_FALSE(QemuOrphan::find(dir_, kQemu));
  net::SpawnOptions spawn;
  spawn.argv = {"true"};
  auto ended = net::ChildProcess::spawn(spawn);
  ASSERT_TRUE(ended.wait(5s));
  net::Files::writeAtomic(pid_file, std::to_string(ended.pid()) + "\n");  // gone
  EXPECT_FALSE(QemuOrphan::find(dir_, kQemu));
  EXPECT_FALSE(QemuDriver(options()).orphanRunning());
}

TEST_F(QemuOrphanTest, AQemuOfThisStateDirThatHasEndedIsNotAnOrphan) {
  startQemu();
  qemu_->stop(0ms, SIGKILL);  // reaped: its pid file is left behind, naming nothing
  ASSERT_TRUE(fs::exists(QemuOrphan::pidFile(dir_)));
  EXPECT_FALSE(QemuOrphan::find(dir_, kQemu));
}

TEST(QemuOrphan, NamesPidFileWantsThatExactFileAfterThePidfileOption) {
  const std::string file = "/p/guest/qemu.pid";
  EXPECT_TRUE(QemuOrphan::namesPidFile({kQemu, "-m", "2048", "-pidfile", file}, file));
  EXPECT_TRUE(QemuOrphan::namesPidFile({kQemu, "--pidfile", file, "-S"}, file));
  EXPECT_FALSE(QemuOrphan::namesPidFile({kQemu, "-pidfile", file + ".old"}, file));
  EXPECT_FALSE(QemuOrphan::namesPidFile({kQemu, "-pidfile", "/q/guest/qemu.pid"}, file));
  EXPECT_FALSE(QemuOrphan::namesPidFile({kQemu, "-serial", file}, file));
  EXPECT_FALSE(QemuOrphan::namesPidFile({kQemu, "-pidfile"}, file));
  EXPECT_FALSE(QemuOrphan::namesPidFile({}, file));
}

TEST(QemuOrphan, HostForwardsReadsForwardRowsAndSkipsConnections) {
  const std::string info =
      "Hub -1 (net0):\r\n"
      "  Protocol[State]    FD  Source Address  Port   Dest. Address  Port RecvQ SendQ\r\n"
      "  TCP[HOST_FORWARD]  14       127.0.0.1 21998       10.0.2.15    80     0     0\r\n"
      "  TCP[ESTABLISHED]   23       10.0.2.15 41522       10.0.2.2  8080     0     0\r\n"
      "  TCP[HOST_FORWARD]   9               * 22000       10.0.2.15    22     0     0\r\n"
      "  UDP[HOST_FORWARD]  15       127.0.0.1 21997       10.0.2.15    53     0     0\r\n"
      "  UDP[236 sec]       16       10.0.2.15 53311       10.0.2.3    53     0     0\r\n";
  const auto forwards = QemuOrphan::hostForwards(info);
  ASSERT_EQ(forwards.size(), 3u);
  EXPECT_EQ(forwards[0].protocol, "tcp");
  EXPECT_EQ(forwards[0].host_ip, "127.0.0.1");
  EXPECT_EQ(forwards[0].host_port, 21998);
  EXPECT_EQ(forwards[0].guest_port, 80);
  EXPECT_EQ(forwards[1].host_ip, "");  // every address
  EXPECT_EQ(forwards[1].host_port, 22000);
  EXPECT_EQ(forwards[2].protocol, "udp");
  EXPECT_EQ(forwards[2].guest_port, 53);
  EXPECT_EQ(QemuOrphan::removeCommand("net0", forwards[0]),
            "hostfwd_remove net0 tcp:127.0.0.1:21998");
  EXPECT_EQ(QemuOrphan::removeCommand("net0", forwards[1]), "hostfwd_remove net0 tcp::22000");
  EXPECT_TRUE(QemuOrphan::hostForwards("").empty());
  EXPECT_TRUE(QemuOrphan::hostForwards("TCP[HOST_FORWARD] x y z").empty());
}

// What QEMU really prints, and the commands that really remove its forwards.
TEST_F(QemuOrphanTest, HostForwardsOfARunningQemuCanBeRemovedWithTheirCommands) {
  startQemu();
  EXPECT_EQ(hmp("hostfwd_add net0 tcp:127.0.0.1:21932-:80"), "");
  EXPECT_EQ(hmp("hostfwd_add net0 udp:127.0.0.1:21933-:53"), "");
  EXPECT_EQ(hmp("hostfwd_add net0 tcp::21934-:81"), "");
  auto forwards = QemuOrphan::hostForwards(hmp("info usernet"));
  ASSERT_EQ(forwards.size(), 4u) << hmp("info usernet");
  for (const auto& forward : forwards) {
    if (forward.host_port == ssh_port_) continue;
    EXPECT_NE(hmp(QemuOrphan::removeCommand("net0", forward)).find("removed"), std::string::npos);
  }
  forwards = QemuOrphan::hostForwards(hmp("info usernet"));
  ASSERT_EQ(forwards.size(), 1u);
  EXPECT_EQ(forwards[0].host_port, ssh_port_);
  EXPECT_EQ(forwards[0].guest_port, 22);
}

TEST_F(QemuOrphanTest, BootRecordRoundTripsAndAnIncompleteOneIsNone) {
  QemuBootRecord record{"settings-digest", "state-key", "tcg", "", 40022, 40023};
  record.save(dir_ + "/boot.json");
  auto loaded = QemuBootRecord::load(dir_ + "/boot.json");
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded->settings, "settings-digest");
  EXPECT_EQ(loaded->state_key, "state-key");
  EXPECT_EQ(loaded->accel, "tcg");
  EXPECT_EQ(loaded->ssh_port, 40022);
  EXPECT_EQ(loaded->engine_port, 40023);
  EXPECT_FALSE(QemuBootRecord::load(dir_ + "/missing.json"));
  net::Files::writeAtomic(dir_ + "/bad.json", R"({"settings": "x", "sshPort": "22"})");
  EXPECT_FALSE(QemuBootRecord::load(dir_ + "/bad.json"));
  net::Files::writeAtomic(dir_ + "/bad.json", R"({"settings": "x", "enginePort": 23})");
  EXPECT_FALSE(QemuBootRecord::load(dir_ + "/bad.json"));  // no ssh port
  // A containerd guest has no engine port: its record is whole without one.
  net::Files::writeAtomic(dir_ + "/ctrd.json", R"({"settings": "x", "sshPort": 22})");
  const auto containerd = QemuBootRecord::load(dir_ + "/ctrd.json");
  ASSERT_TRUE(containerd);
  EXPECT_EQ(containerd->engine_port, 0);
}

// `berth stop` with no daemon: a QEMU whose QMP does not answer is terminated, and nothing of
// it is left (process, pid file).
TEST_F(QemuOrphanTest, StopEndsAnOrphanWhoseQmpDoesNotAnswer) {
  startQemu(/*with_qmp=*/false);
  QemuDriver driver(options());
  ASSERT_TRUE(driver.orphanRunning());
  driver.stop(false);
  auto status = qemu_->wait(0ms);
  ASSERT_TRUE(status) << "QEMU still runs after stop()";
  // QMP quit was impossible: TERM ended it (QEMU exits 0 on it once its handler is set up),
  // without the KILL that follows the grace.
  EXPECT_TRUE(status->signal == SIGTERM || (status->signal == 0 && status->code == 0))
      << status->describe();
  EXPECT_FALSE(fs::exists(QemuOrphan::pidFile(dir_)));
  EXPECT_FALSE(driver.orphanRunning());
  EXPECT_EQ(driver.status().state, GuestState::Stopped);
}

// A paused VM (e.g. a daemon killed while saving the state) is not adopted: start() quits it
// over QMP and goes on to boot (which fails here: the test has no guest image).
TEST_F(QemuOrphanTest, StartQuitsAPausedOrphanInsteadOfAdoptingIt) {
  startQemu();
  {
    QmpClient qmp(10s);
    qmp.connect(dir_ + "/qmp.sock");
    qmp.execute("stop");
  }
  QemuDriver driver(options());
  std::vector<std::string> lines;
  EXPECT_THROW(driver.start([&](const std::string& line) { lines.push_back(line); }), DriverError);
  auto status = qemu_->wait(0ms);
  ASSERT_TRUE(status) << "QEMU still runs after start() refused to adopt it";
  EXPECT_EQ(status->code, 0);  // QMP quit
  std::string all;
  for (const auto& line : lines) all += line + "\n";
  EXPECT_NE(all.find("adopting the guest left running by an earlier daemon"), std::string::npos)
      << all;
  EXPECT_NE(all.find("cannot adopt"), std::string::npos) << all;
  EXPECT_NE(all.find("its VM is paused, not running"), std::string::npos) << all;
  EXPECT_NE(all.find("the earlier guest stopped"), std::string::npos) << all;
  EXPECT_FALSE(driver.orphanRunning());
}

// A guest made from other settings than the profile's now (changed while no daemon ran) is
// not adopted either.
TEST_F(QemuOrphanTest, StartDoesNotAdoptAGuestBootedWithOtherSettings) {
  startQemu();
  QemuBootRecord{"digest-of-other-settings", "", "tcg", "", ssh_port_, 21935}.save(dir_ +
                                                                                   "/boot.json");
  QemuDriver driver(options());
  std::vector<std::string> lines;
  EXPECT_THROW(driver.start([&](const std::string& line) { lines.push_back(line); }), DriverError);
  ASSERT_TRUE(qemu_->wait(0ms)) << "QEMU still runs after start() refused to adopt it";
  std::string all;
  for (const auto& line : lines) all += line + "\n";
  EXPECT_NE(all.find("settings changed since it booted"), std::string::npos) << all;
}

}  // namespace
}  // namespace berth::vm
