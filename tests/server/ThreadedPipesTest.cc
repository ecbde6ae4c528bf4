#include <gtest/gtest.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <fstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "server/ThreadedPipes.h"

namespace berth::server {
namespace {

struct Pair {
  int outer = -1;  // the test's end
  int inner = -1;  // given to the pipe
  Pair() {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    outer = fds[0];
    inner = fds[1];
  }
};

std::string readAll(int fd) {
  std::string out;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return out;
    out.append(buf, static_cast<std::size_t>(n));
  }
}

bool waitFor(const std::atomic<int>& value, int want) {
  for (int i = 0; i < 500 && value.load() != want; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return value.load() == want;
}

TEST(ThreadedPipesTest, RelaysBothWaysKeepsHalfCloseAndEndsOnce) {
  ThreadedPipes pipes(4096);  // smaller than the payload: many reads and writes
  Pair client, engine;
  std::atomic<int> done{0};
  pipes.relay(client.inner, engine.inner, [&] { ++done; });
  const std::string request(1 << 20, 'q');
  std::thread writer([&] {
    ASSERT_EQ(::write(client.outer, request.data(), request.size()),
              static_cast<ssize_t>(request.size()));
    ::shutdown(client.outer, SHUT_WR);  // half-close: the reply must still come back
  });
  EXPECT_EQ(readAll(engine.outer), request);  // ends with EOF: the half-close went through
  writer.join();
  EXPECT_EQ(done.load(), 0);  // the other direction still runs
  ASSERT_EQ(::write(engine.outer, "reply", 5), 5);
  ::close(engine.outer);
  EXPECT_EQ(readAll(client.outer), "reply");
  EXPECT_TRUE(waitFor(done, 1));
  EXPECT_EQ(pipes.active(), 0U);
  ::close(client.outer);
}

TEST(ThreadedPipesTest, AResetOneWayEndsBothDirections) {
  ThreadedPipes pipes(4096);
  Pair client, engine;
  std::atomic<int> done{0};
  pipes.relay(client.inner, engine.inner, [&] { ++done; });
  // The client vanishes with unread data in its receive queue: a reset for the pipe's reads.
  ASSERT_EQ(::write(engine.outer, "x", 1), 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ::close(client.outer);
  EXPECT_TRUE(waitFor(done, 1));
  EXPECT_EQ(readAll(engine.outer), "");  // the engine side sees the end too
  ::close(engine.outer);
}

TEST(ThreadedPipesTest, TheDestructorEndsPipesThatAreStillRelaying) {
  Pair client, engine;
  std::atomic<int> done{0};
  {
    ThreadedPipes pipes(4096);
    pipes.relay(client.inner, engine.inner, [&] { ++done; });
    EXPECT_EQ(pipes.active(), 1U);
  }  // both threads wait in read(): the destructor must wake and join them
  EXPECT_EQ(done.load(), 1);
  EXPECT_EQ(readAll(engine.outer), "");
  EXPECT_EQ(readAll(client.outer), "");
  ::close(client.outer);
  ::close(engine.outer);
}

// Mappings in /proc/self/maps that look like a thread stack of `stack` bytes: private,
// read-write, exactly that long (glibc maps its guard page apart). VmSize would count malloc's
// per-thread arenas too.
int stackMappings(std::size_t stack) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  int count = 0;
  while (std::getline(maps, line)) {  // "begin-end perms ..." in hex
    std::size_t begin = 0, end = 0;
    const char* last = line.data() + line.size();
    auto [dash, e1] = std::from_chars(line.data(), last, begin, 16);
    if (e1 != std::errc() || dash == last || *dash != '-') continue;
    auto [space, e2] = std::from_chars(dash + 1, last, end, 16);
    if (e2 != std::errc() || end - begin != stack) continue;
    if (std::string_view(space, last).starts_with(" rw-p")) ++count;
  }
  return count;
}

TEST(ThreadedPipesTest, FinishedPipesHoldNoThreadStacksWhileNoNewOneComes) {
  // A thread that returned but was never joined keeps its whole stack mapped; a detached one
  // gives it back (glibc caches at most 40 MiB of them). 32 pipes open at once and then end,
  // with no relay() after them: 64 stacks if their threads were left unjoined.
  pthread_attr_t attr;
  ASSERT_EQ(pthread_getattr_default_np(&attr), 0);
  std::size_t stack = 0;
  ASSERT_EQ(pthread_attr_getstacksize(&attr, &stack), 0);
  pthread_attr_destroy(&attr);
  ThreadedPipes pipes(4096);
  const int before = stackMappings(stack);
  std::vector<Pair> clients(32), engines(32);
  std::atomic<int> done{0};
  for (std::size_t i = 0; i < clients.size(); ++i)
    pipes.relay(clients[i].inner, engines[i].inner, [&] { ++done; });
  for (std::size_t i = 0; i < clients.size(); ++i) {
    ::close(clients[i].outer);
    ::close(engines[i].outer);
  }
  ASSERT_TRUE(waitFor(done, 32));
  // Measured before anything else calls into the pipes (a call could clean up what is left).
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the last threads return
  const int after = stackMappings(stack);
  EXPECT_LE(after - before, 8) << "stack " << stack << " bytes";
  EXPECT_EQ(pipes.active(), 0U);
}

}  // namespace
}  // namespace berth::server
