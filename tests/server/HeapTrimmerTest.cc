#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include "server/HeapTrimmer.h"

namespace berth::server {
namespace {

// Runs the loop for `seconds` (the trimmer waits a second before it trims).
void runFor(boost::asio::io_context& io, double seconds) {
  io.restart();
  io.run_for(std::chrono::milliseconds(static_cast<int>(seconds * 1000)));
}

TEST(HeapTrimmerTest, TrimsOnceAfterTheLastConnectionCloses) {
  boost::asio::io_context io;
  auto trimmer = std::make_shared<HeapTrimmer>(io.get_executor());
  trimmer->connectionCount(1);
  trimmer->connectionCount(2);
  trimmer->connectionCount(1);
  runFor(io, 1.3);
  EXPECT_EQ(trimmer->trims(), 0u);  // connections still open, no burst
  trimmer->connectionCount(0);
  trimmer->connectionCount(1);
  trimmer->connectionCount(0);  // a second drop to zero within the delay: one trim
  runFor(io, 1.3);
  EXPECT_EQ(trimmer->trims(), 1u);
}

TEST(HeapTrimmerTest, TrimsAfterABurstWhileAFewConnectionsStayOpen) {
  boost::asio::io_context io;
  auto trimmer = std::make_shared<HeapTrimmer>(io.get_executor());
  for (std::size_t n = 1; n <= 200; ++n) trimmer->connectionCount(n);
  for (std::size_t n = 199; n >= 60; --n) trimmer->connectionCount(n);
  runFor(io, 1.3);
  EXPECT_EQ(trimmer->trims(), 0u);  // 60 of 200 still open: not yet a quarter
  for (std::size_t n = 59; n >= 5; --n) trimmer->connectionCount(n);
  runFor(io, 1.3);
  EXPECT_EQ(trimmer->trims(), 1u);
  // The peak is reset at the trim: the next few closes are no new burst.
  trimmer->connectionCount(4);
  trimmer->connectionCount(3);
  runFor(io, 1.3);
  EXPECT_EQ(trimmer->trims(), 1u);
}

TEST(HeapTrimmerTest, TrimsAfterABurstOfExchangesOnConnectionsThatStayOpen) {
  boost::asio::io_context io;
  auto trimmer = std::make_shared<HeapTrimmer>(io.get_executor());
  trimmer->connectionCount(500);
  // One client's requests one after another: buffers taken and given back, no trim.
  for (int i = 0; i < 50; ++i) {
    trimmer->busyCount(1);
    trimmer->busyCount(0);
  }
  runFor(io, 1.3);
  EXPECT_EQ(trimmer->trims(), 0u);
  // 500 exchanges at once, then all 500 connections idle and open: their buffers were freed
  // among the engine connections' state, which pins heap pages until a trim.
  for (std::size_t n = 1; n <= 500; ++n) trimmer->busyCount(n);
  for (std::size_t n = 499; n >= 126; --n) trimmer->busyCount(n);
  runFor(io, 1.3);
  EXPECT_EQ(trimmer->trims(), 0u);  // not yet down to a quarter
  for (std::size_t n = 125; n > 0; --n) trimmer->busyCount(n - 1);
  runFor(io, 1.3);
  EXPECT_EQ(trimmer->trims(), 1u);
}

}  // namespace
}  // namespace berth::server
