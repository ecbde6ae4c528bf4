#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

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

}  // namespace
}  // namespace berth::server
