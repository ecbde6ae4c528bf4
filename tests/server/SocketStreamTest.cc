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

// `stream` is one end of a connected pair; the test holds the other end, `theirs`.
class SocketStreamTest : public ::testing::Test {
 protected:
  static UnixStream connectedTo(Unix::socket& peer) {
    Unix::socket ours(peer.get_executor());
    boost::asio::local::connect_pair(ours, peer);
    return UnixStream(std::move(ours), "test");
  }

  boost::asio::io_context io_;
  Unix::socket theirs_{io_};
  UnixStream stream_ = connectedTo(theirs_);
};

TEST_F(SocketStreamTest, TryWriteTakesWhatFitsThenSaysWouldBlockAndNeverWaits) {
  auto& stream = stream_;
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
  boost::asio::read(theirs_, boost::asio::buffer(got));
  EXPECT_EQ(std::string(got.begin(), got.end()), std::string(taken, 'x'));
}

TEST_F(SocketStreamTest, TryWriteToAGonePeerIsAnErrorNotASignal) {
  theirs_.close();
  ErrorCode ec;
  // Without MSG_NOSIGNAL this would kill the test binary with SIGPIPE.
  EXPECT_EQ(stream_.tryWrite(boost::asio::buffer("hi", 2), ec), 0u);
  EXPECT_EQ(ec, boost::asio::error::broken_pipe);
}

}  // namespace
}  // namespace berth::net
