// IoPool: connections are spread over the main io_context and the pool's own, each run by one
// thread, and a placed executor's handlers always run on that one thread.
#include <gtest/gtest.h>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <future>
#include <set>
#include <thread>

#include "server/net/IoPool.h"

namespace berth::net {
namespace {

// The thread a handler posted to `executor` runs on (the main io_context is run by the caller).
std::thread::id runsOn(boost::asio::any_io_executor executor, boost::asio::io_context& main) {
  std::promise<std::thread::id> where;
  auto got = where.get_future();
  boost::asio::post(executor, [&where] { where.set_value(std::this_thread::get_id()); });
  while (got.wait_for(std::chrono::milliseconds(0)) != std::future_status::ready) {
    if (main.stopped()) main.restart();  // it stops each time it runs out of work
    main.run_one_for(std::chrono::milliseconds(10));
  }
  return got.get();
}

TEST(IoPoolTest, OneThreadPlacesEveryConnectionOnTheMainContext) {
  boost::asio::io_context main(1);
  IoPool pool(main, 1, std::chrono::microseconds(0));
  pool.start();
  EXPECT_EQ(pool.threads(), 1);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(pool.place() == main.get_executor());
}

TEST(IoPoolTest, ConnectionsAreSpreadRoundRobinAndEachStaysOnOneThread) {
  boost::asio::io_context main(1);
  IoPool pool(main, 3, std::chrono::microseconds(50));
  pool.start();
  std::vector<boost::asio::any_io_executor> placed;
  placed.reserve(6);
  for (int i = 0; i < 6; ++i) placed.push_back(pool.place());
  std::set<std::thread::id> threads;
  for (int i = 0; i < 3; ++i) {
    const auto first = runsOn(placed[i], main);
    threads.insert(first);
    // The same connection's later handlers, and the connection placed three later, run there.
    EXPECT_EQ(runsOn(placed[i], main), first);
    EXPECT_EQ(runsOn(placed[i + 3], main), first);
  }
  EXPECT_EQ(threads.size(), 3U);
  EXPECT_EQ(threads.count(std::this_thread::get_id()), 1U);  // the main context's own thread
  pool.stop();
}

TEST(IoPoolTest, StopEndsIdleThreadsAndDropsWhatWasPending) {
  boost::asio::io_context main(1);
  auto pool = std::make_unique<IoPool>(main, 2, std::chrono::microseconds(0));
  pool->start();
  auto executor = pool->place();
  executor = pool->place();  // the second placement is the pool's own context
  ASSERT_FALSE(executor == main.get_executor());
  // A handler that waits on a timer forever: stop() must still return (the context stops), and
  // destroying the pool destroys the handler and what it owns.
  auto owned = std::make_shared<int>(7);
  std::weak_ptr<int> watch = owned;
  auto timer = std::make_unique<boost::asio::steady_timer>(executor, std::chrono::hours(1));
  timer->async_wait([owned = std::move(owned)](boost::system::error_code) {});
  pool->stop();
  EXPECT_FALSE(watch.expired());
  timer.reset();  // its context is stopped: the cancelled wait is queued, never run
  pool.reset();
  EXPECT_TRUE(watch.expired());
}

TEST(IoPoolTest, DefaultThreadsIsOnePerCoreUpToTwo) {
  const int n = IoPool::defaultThreads();
  EXPECT_GE(n, 1);
  EXPECT_LE(n, 2);
  EXPECT_EQ(n, static_cast<int>(std::min(2U, std::max(1U, std::thread::hardware_concurrency()))));
}

}  // namespace
}  // namespace berth::net
