#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "server/net/ChildProcess.h"
#include "server/net/Files.h"

namespace berth::net {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

class ChildProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/b-child-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  ChildProcess shell(const std::string& script, SpawnOptions options = {}) {
    options.argv = {"sh", "-c", script};
    return ChildProcess::spawn(options);
  }

  std::string dir_;
};

TEST_F(ChildProcessTest, RunGivesExitCodeAndOutput) {
  auto ok = ChildProcess::run({"sh", "-c", "echo out; echo err >&2; exit 0"});
  EXPECT_EQ(ok.exit_code, 0);
  EXPECT_EQ(ok.output, "out\nerr");
  EXPECT_EQ(ChildProcess::run({"sh", "-c", "exit 7"}).exit_code, 7);
  auto missing = ChildProcess::run({"berth-no-such-program"});
  EXPECT_EQ(missing.exit_code, -1);
  EXPECT_NE(missing.output.find("cannot run berth-no-such-program"), std::string::npos);
  EXPECT_THROW(ChildProcess::check({"sh", "-c", "echo why; exit 1"}, "doing x"), ProcessError);
  try {
    ChildProcess::check({"sh", "-c", "echo why; exit 1"}, "doing x");
  } catch (const ProcessError& e) {
    EXPECT_STREQ(e.what(), "doing x: `sh -c echo why; exit 1` failed: why");
  }
}

// stdin is /dev/null unless a file is given (what a copy over ssh sends).
TEST_F(ChildProcessTest, RunReadsStdinFromTheFileItIsGiven) {
  EXPECT_EQ(ChildProcess::run({"wc", "-c"}).output, "0");
  Files::writeAtomic(dir_ + "/in", "hello\n");
  EXPECT_EQ(ChildProcess::run({"sha256sum"}, 10s, dir_ + "/in").output.substr(0, 16),
            "5891b5b522d5df08");
  EXPECT_EQ(ChildProcess::run({"cat"}, 10s, dir_ + "/missing").exit_code, -1);
}

TEST_F(ChildProcessTest, RunStopsAProgramPastItsTimeout) {
  const auto t0 = Clock::now();
  auto r = ChildProcess::run({"sleep", "30"}, 300ms);
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.exit_code, -1);
  EXPECT_LT(Clock::now() - t0, 5s);
}

TEST_F(ChildProcessTest, WaitReportsExitCodeOrSignalAndTimesOut) {
  auto quick = shell("exit 3");
  auto status = quick.wait(5s);
  ASSERT_TRUE(status);
  EXPECT_EQ(status->code, 3);
  EXPECT_EQ(status->describe(), "exited with status 3");
  EXPECT_FALSE(quick.running());

  auto slow = shell("sleep 30");
  EXPECT_TRUE(slow.running());
  const auto t0 = Clock::now();
  EXPECT_FALSE(slow.wait(200ms));
  EXPECT_GE(Clock::now() - t0, 200ms);
  ASSERT_TRUE(slow.signal(SIGKILL));
  status = slow.wait(5s);
  ASSERT_TRUE(status);
  EXPECT_EQ(status->signal, SIGKILL);
  EXPECT_EQ(status->describe(), "was killed by signal 9");
}

TEST_F(ChildProcessTest, StopGivesGraceThenKills) {
  // One that ends on TERM ends within the grace, by TERM.
  auto polite = shell("exec sleep 30");
  auto status = polite.stop(5s);
  EXPECT_EQ(status.signal, SIGTERM);

  // One that ignores TERM is killed once the grace has passed, not before.
  const std::string ready = dir_ + "/ready";
  auto stubborn = shell("trap '' TERM; touch " + ready + "; while :; do sleep 0.05; done");
  for (int i = 0; i < 200 && !std::filesystem::exists(ready); ++i)
    std::this_thread::sleep_for(10ms);
  const auto t0 = Clock::now();
  status = stubborn.stop(500ms);
  EXPECT_EQ(status.signal, SIGKILL);
  EXPECT_GE(Clock::now() - t0, 500ms);
  EXPECT_LT(Clock::now() - t0, 5s);
}

TEST_F(ChildProcessTest, EnvOutputAndFdsReachTheChild) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  SpawnOptions options;
  options.env = {{"BERTH_CHILD_TEST", "from parent"}};
  options.output = dir_ + "/out.log";
  options.fds = {{fds[1], 5}};
  auto child = shell("echo \"$BERTH_CHILD_TEST\"; echo on-fd-5 >&5; echo to-stderr >&2", options);
  ::close(fds[1]);
  ASSERT_TRUE(child.wait(5s));
  char buffer[64] = {};
  const ssize_t n = ::read(fds[0], buffer, sizeof buffer - 1);
  ::close(fds[0]);
  EXPECT_EQ(std::string(buffer, n > 0 ? static_cast<std::size_t>(n) : 0), "on-fd-5\n");
  EXPECT_EQ(Files::readOr(options.output), "from parent\nto-stderr\n");
  // The variable was the child's alone.
  EXPECT_EQ(::getenv("BERTH_CHILD_TEST"), nullptr);
}

TEST_F(ChildProcessTest, NewSessionDetachesFromOurs) {
  SpawnOptions options;
  options.new_session = true;
  options.output = dir_ + "/sid";
  auto child = shell("ps -o sid= -p $$", options);
  ASSERT_TRUE(child.wait(5s));
  EXPECT_EQ(std::stoi(Files::readOr(options.output)), child.pid());  // it leads its session
  EXPECT_NE(::getsid(0), child.pid());
}

TEST_F(ChildProcessTest, AdoptionAcceptsTheRightProgramAndRefusesARecycledPid) {
  SpawnOptions options;
  options.argv = {"sleep", "30"};
  auto sleeper = ChildProcess::spawn(options);
  const std::string pid_file = dir_ + "/sleep.pid";
  Files::writeAtomic(pid_file, std::to_string(sleeper.pid()) + "\n");

  // The pid file names a live `sleep`: adopted as sleep, refused as anything else (the pid of
  // a dockerd that died and whose number went to another program).
  auto adopted = ChildProcess::adopt(pid_file, "sleep");
  ASSERT_TRUE(adopted);
  EXPECT_EQ(adopted->pid(), sleeper.pid());
  EXPECT_TRUE(adopted->running());
  EXPECT_FALSE(ChildProcess::adopt(pid_file, "/usr/sbin/dockerd"));
  EXPECT_TRUE(ChildProcess::isProgram(sleeper.pid(), "/bin/sleep"));

  // An adopted process is watched through its pidfd: its end is seen without being our child.
  EXPECT_FALSE(adopted->wait(100ms));
  ASSERT_TRUE(adopted->signal(SIGTERM));
  EXPECT_TRUE(sleeper.wait(5s));  // reaped by us, its parent
  auto end = adopted->wait(5s);
  ASSERT_TRUE(end);
  EXPECT_FALSE(end->known);

  // A dead pid, garbage and a missing file are refused.
  EXPECT_FALSE(ChildProcess::adopt(pid_file, "sleep"));
  Files::writeAtomic(pid_file, "12abc\n");
  EXPECT_FALSE(ChildProcess::adopt(pid_file, "sleep"));
  EXPECT_FALSE(ChildProcess::adopt(dir_ + "/missing.pid", "sleep"));
}

TEST_F(ChildProcessTest, AZombieIsNotAlive) {
  auto child = shell("exit 0");
  const int pid = child.pid();
  // Not reaped yet: a zombie, which must not count as a live process.
  for (int i = 0; i < 200 && ChildProcess::alive(pid); ++i) std::this_thread::sleep_for(10ms);
  EXPECT_FALSE(ChildProcess::alive(pid));
  EXPECT_FALSE(ChildProcess::adoptPid(pid, "sh"));
}

TEST(ChildProcess, SelfExecutableAndWhich) {
  EXPECT_EQ(ChildProcess::selfExecutable(), std::filesystem::canonical("/proc/self/exe").string());
  EXPECT_EQ(ChildProcess::which("sh").back(), 'h');
  EXPECT_EQ(ChildProcess::which("berth-no-such-program"), "");
}

TEST(Files, WriteAtomicReplacesWholeWithTheModeAsked) {
  char tmpl[] = "/tmp/b-files-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string path = std::string(tmpl) + "/state";
  EXPECT_FALSE(Files::read(path));
  Files::writeAtomic(path, "one\n", 0600);
  Files::writeAtomic(path, "two\n\n", 0600);
  EXPECT_EQ(Files::readOr(path), "two\n\n");
  EXPECT_EQ(Files::readTrimmed(path), "two");
  EXPECT_EQ(std::filesystem::status(path).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(tmpl),
                          std::filesystem::directory_iterator{}),
            1);  // no temporary left behind
  EXPECT_THROW(Files::writeAtomic(std::string(tmpl) + "/no/such/dir/x", "x"), std::runtime_error);
  std::filesystem::remove_all(tmpl);
}

}  // namespace
}  // namespace berth::net
