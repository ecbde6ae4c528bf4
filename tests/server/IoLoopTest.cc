#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <ctime>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>

#include "server/net/IoLoop.h"

namespace berth::net {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

TEST(IoLoopTest, RunsHandlersAndReturnsWhenOutOfWorkWithoutSpinningOut) {
  for (auto spin : {microseconds(0), microseconds(5'000'000)}) {
    boost::asio::io_context io;
    int ran = 0;
    boost::asio::post(io, [&] {
      boost::asio::post(io, [&] { ++ran; });
      ++ran;
    });
    auto start = std::chrono::steady_clock::now();
    runIoLoop(io, spin);
    EXPECT_EQ(ran, 2);
    EXPECT_TRUE(io.stopped());
    // Out of work ends the loop at once: it does not wait out the 5 s spin window.
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  }
}

TEST(IoLoopTest, SleepsPastTheSpinWindowAndWakesForLaterEvents) {
  boost::asio::io_context io;
  boost::asio::steady_timer timer(io, milliseconds(50));  // fires long after a 100 us spin
  bool fired = false;
  timer.async_wait([&](boost::system::error_code ec) { fired = !ec; });
  runIoLoop(io, microseconds(100));
  EXPECT_TRUE(fired);
}

TEST(IoLoopTest, PicksUpWorkPostedFromAnotherThreadAndStops) {
  boost::asio::io_context io;
  auto guard = boost::asio::make_work_guard(io);
  int ran = 0;
  std::thread other([&] {
    std::this_thread::sleep_for(milliseconds(20));
    boost::asio::post(io, [&] { ++ran; });
    std::this_thread::sleep_for(milliseconds(20));
    boost::asio::post(io, [&] {
      ++ran;
      io.stop();
    });
  });
  runIoLoop(io, microseconds(50));
  other.join();
  EXPECT_EQ(ran, 2);
}

// CPU time of this thread while `io` runs a first handler and then waits 300 ms for a timer.
double cpuMsOfAWait(microseconds spin, const SpinGate* gate) {
  boost::asio::io_context io;
  auto guard = boost::asio::make_work_guard(io);
  timespec cpu_start{}, cpu_end{};
  boost::asio::post(io, [&] { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu_start); });
  boost::asio::steady_timer timer(io, milliseconds(300));
  timer.async_wait([&](boost::system::error_code) {
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu_end);
    io.stop();
  });
  runIoLoop(io, spin, gate);
  return (cpu_end.tv_sec - cpu_start.tv_sec) * 1e3 + (cpu_end.tv_nsec - cpu_start.tv_nsec) / 1e6;
}

TEST(IoLoopTest, AnIdleLoopSleepsInsteadOfSpinning) {
  // 300 ms with nothing to do: a 1 ms spin and a sleep. A loop that never stopped spinning
  // would burn most of the 300 ms (well over 40 ms even on a loaded 2-core machine).
  EXPECT_LT(cpuMsOfAWait(microseconds(1000), nullptr), 40.0);
}

TEST(IoLoopTest, AClosedSpinGateSleepsThroughTheSpinWindow) {
  SpinGate gate;
  for (int i = 0; i <= SpinGate::kMaxBusy; ++i) gate.busy(+1);
  ASSERT_FALSE(gate.open());
  // A 10 s spin window after the first handler: with the gate closed the loop sleeps at once.
  EXPECT_LT(cpuMsOfAWait(microseconds(10'000'000), &gate), 40.0);
}

TEST(IoLoopTest, TheSpinGateOpensUpToItsBusyLimit) {
  SpinGate gate(2);
  EXPECT_TRUE(gate.open());
  gate.busy(+1);
  gate.busy(+1);
  EXPECT_TRUE(gate.open());
  gate.busy(+1);
  EXPECT_FALSE(gate.open());
  gate.busy(-1);
  EXPECT_TRUE(gate.open());
}

TEST(IoLoopTest, ReadsTheRunnableThreadsOfLoadavg) {
  EXPECT_EQ(runnableThreads("0.50 0.40 0.30 3/441 1234\n"), 3);
  EXPECT_EQ(runnableThreads("11.27 9.34 6.00 17/441 8385\n"), 17);
  EXPECT_EQ(runnableThreads(""), 0);
  EXPECT_EQ(runnableThreads("garbage"), 0);
  EXPECT_EQ(runnableThreads("0.50 0.40 0.30 /441 1"), 0);
}

TEST(IoLoopTest, TheRunningSystemReportsAtLeastTheCaller) {
  std::ifstream in("/proc/loadavg");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_GE(runnableThreads(text), 1) << text;
}

}  // namespace
}  // namespace berth::net
