#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read.hpp>
#include <string>
#include <vector>

#include "server/net/SocketStream.h"

namespace berth::net {
namespace {

using Unix = boost::asio::local::stream_protocol;

TEST(SocketStreamTest, TryWriteTakesWhatFitsThenSaysWouldBlockAndNeverWaits) {
  boost::asio::io_context io;
  Unix::socket ours(io);
  Unix::socket theirs(io);
  boost::asio::local::connect_pair(ours, theirs);
  UnixStream stream(std::move(ours), "test");

  const std::string chunk(std::size_t{64} * 1024, 'x');
  std::size_t taken = 0;
  ErrorCode ec;
  for (int i = 0; i < 1000 && !ec; ++i) taken += stream.tryWrite(boost::asio::buffer(chunk), ec);
  // The peer reads nothing: the socket buffer fills, and the call returns instead of waiting.
  EXPECT_EQ(ec, boost::asio::error::would_block);
  EXPECT_GT(taken, 0u);
  EXPECT_EQ(stream.tryWrite(boost::asio::buffer(chunk), ec), 0u);
  EXPECT_EQ(ec, boost::asio::error::would_block);

  // Every byte taken reaches the peer, in order.
  std::vector<char> got(taken);
  boost::asio::read(theirs, boost::asio::buffer(got));
  EXPECT_EQ(std::string(got.begin(), got.end()), std::string(taken, 'x'));
}

TEST(SocketStreamTest, TryWriteToAGonePeerIsAnErrorNotASignal) {
  boost::asio::io_context io;
  Unix::socket ours(io);
  Unix::socket theirs(io);
  boost::asio::local::connect_pair(ours, theirs);
  UnixStream stream(std::move(ours), "test");
  theirs.close();
  ErrorCode ec;
  // Without MSG_NOSIGNAL this would kill the test binary with SIGPIPE.
  EXPECT_EQ(stream.tryWrite(boost::asio::buffer("hi", 2), ec), 0u);
  EXPECT_EQ(ec, boost::asio::error::broken_pipe);
}

}  // namespace
}  // namespace berth::net
