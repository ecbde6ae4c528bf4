// ProcessHolds against real processes: a hold ends when its process exits (a forked child that
// sleeps, then exits), another hold keeps counting meanwhile, and a pid that names no process
// (or no pid at all) is refused with nothing held.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <vector>

#include "server/ProcessHolds.h"

namespace berth::server {
namespace {

using namespace std::chrono_literals;

// A child that sleeps `ms` milliseconds, then exits.
pid_t sleeper(int ms) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::usleep(static_cast<useconds_t>(ms) * 1000);
    ::_exit(0);
  }
  return pid;
}

// Runs `io` until `done` holds or `limit` passes.
template <typename Pred>
void runUntil(boost::asio::io_context& io, Pred done, std::chrono::milliseconds limit = 10s) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!done() && std::chrono::steady_clock::now() < until) io.run_for(10ms);
}

TEST(ProcessHoldsTest, AHoldEndsWhenItsProcessExits) {
  boost::asio::io_context io;
  std::vector<int> changes;
  ProcessHolds holds(io, [&](int count) { changes.push_back(count); });
  const pid_t short_lived = sleeper(300);
  const pid_t long_lived = sleeper(60'000);
  ASSERT_GT(short_lived, 0);
  ASSERT_GT(long_lived, 0);
  holds.add(short_lived);
  holds.add(long_lived);
  EXPECT_EQ(holds.count(), 2);
  EXPECT_EQ(changes, (std::vector<int>{1, 2}));

  // Still held while the child sleeps.
  io.run_for(100ms);
  EXPECT_EQ(holds.count(), 2);
  // Its exit ends its hold, unreaped (a zombie has exited): the other one stays.
  const auto started = std::chrono::steady_clock::now();
  runUntil(io, [&] { return holds.count() == 1; });
  EXPECT_EQ(holds.count(), 1);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
  EXPECT_EQ(changes, (std::vector<int>{1, 2, 1}));
  int status = 0;
  EXPECT_EQ(::waitpid(short_lived, &status, 0), short_lived);

  ::kill(long_lived, SIGKILL);
  runUntil(io, [&] { return holds.count() == 0; });
  EXPECT_EQ(holds.count(), 0);
  EXPECT_EQ(changes, (std::vector<int>{1, 2, 1, 0}));
  EXPECT_EQ(::waitpid(long_lived, &status, 0), long_lived);
}

TEST(ProcessHoldsTest, APidOfNoProcessIsRefusedAndNothingIsHeld) {
  boost::asio::io_context io;
  int changes = 0;
  ProcessHolds holds(io, [&](int) { ++changes; });
  // A pid that surely names no process: a child already reaped.
  const pid_t gone = sleeper(0);
  ASSERT_GT(gone, 0);
  int status = 0;
  ASSERT_EQ(::waitpid(gone, &status, 0), gone);
  try {
    holds.add(gone);
    FAIL() << "a reaped pid was held";
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()), "no process has pid " + std::to_string(gone));
  }
  EXPECT_THROW(holds.add(0), std::invalid_argument);
  EXPECT_THROW(holds.add(-1), std::invalid_argument);
  EXPECT_EQ(holds.count(), 0);
  EXPECT_EQ(changes, 0);
  io.run_for(50ms);
  EXPECT_EQ(changes, 0);
}

TEST(ProcessHoldsTest, ParsePidTakesPositiveDecimalsOnly) {
  EXPECT_EQ(ProcessHolds::parsePid("1"), 1);
  EXPECT_EQ(ProcessHolds::parsePid("4194304"), 4194304);
  EXPECT_EQ(ProcessHolds::parsePid("0"), std::nullopt);
  EXPECT_EQ(ProcessHolds::parsePid("-5"), std::nullopt);
  EXPECT_EQ(ProcessHolds::parsePid(""), std::nullopt);
  EXPECT_EQ(ProcessHolds::parsePid("12x"), std::nullopt);
  EXPECT_EQ(ProcessHolds::parsePid("99999999999"), std::nullopt);
}

TEST(ProcessHoldsTest, StopDropsEveryHoldWithoutTellingAnyone) {
  boost::asio::io_context io;
  int changes = 0;
  ProcessHolds holds(io, [&](int) { ++changes; });
  const pid_t child = sleeper(60'000);
  ASSERT_GT(child, 0);
  holds.add(child);
  holds.stop();
  EXPECT_EQ(holds.count(), 0);
  ::kill(child, SIGKILL);
  int status = 0;
  EXPECT_EQ(::waitpid(child, &status, 0), child);
  io.run_for(100ms);
  EXPECT_EQ(changes, 1);  // the add only
}

}  // namespace
}  // namespace berth::server
