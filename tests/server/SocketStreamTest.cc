#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <thread>
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

  struct ReadResult {
    ErrorCode ec;
    std::string bytes;
  };

  // One readSome of up to `size` bytes, run to completion (or to `limit`: nullopt if the read
  // never completed, which is the hang these tests look for).
  std::optional<ReadResult> readOnce(std::size_t size,
                                     std::chrono::milliseconds limit = std::chrono::seconds(5)) {
    std::vector<char> buffer(size);
    std::optional<ReadResult> result;
    stream_.readSome(boost::asio::buffer(buffer), [&](ErrorCode ec, std::size_t n) {
      result = ReadResult{ec, std::string(buffer.data(), n)};
    });
    io_.restart();
    io_.run_for(limit);
    return result;
  }

  // Reads the peer's "a" (the socket is then empty), then reads again while the peer, 50 ms
  // later, does `act`: the second read's result (nullopt if it never completed).
  std::optional<ReadResult> readAfterEmptyWhilePeer(const std::function<void()>& act) {
    boost::asio::write(theirs_, boost::asio::buffer(std::string("a")));
    auto first = readOnce(64);
    EXPECT_TRUE(first && first->bytes == "a");
    std::thread later([&act] {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      act();
    });
    auto second = readOnce(64);
    later.join();
    return second;
  }

  boost::asio::io_context io_;
  Unix::socket theirs_{io_};
  UnixStream stream_ = connectedTo(theirs_);
};

TEST_F(SocketStreamTest, ThePeersLastBytesAndItsEofThatCameWithThemAreBothRead) {
  // Bytes and FIN queued before the first read: after a short read, the next must still hear
  // the EOF (a reader that took "short" to mean "empty" would wait for an event that never
  // comes).
  boost::asio::write(theirs_, boost::asio::buffer(std::string("tail")));
  theirs_.close();
  auto first = readOnce(64);
  ASSERT_TRUE(first);
  EXPECT_FALSE(first->ec);
  EXPECT_EQ(first->bytes, "tail");
  auto second = readOnce(64);
  ASSERT_TRUE(second) << "the read after the last bytes never completed";
  EXPECT_EQ(second->ec, boost::asio::error::eof);
}

TEST_F(SocketStreamTest, BytesAndAHalfCloseQueuedBeforeTheFirstReadAreBothRead) {
  // shutdown(SHUT_WR), not close: epoll then reports RDHUP without HUP. The first read runs
  // before the reactor has reported anything for the socket. Three sockets in turn, so that
  // the reactor's per-socket state, which Asio pools, is also a reused one.
  for (int round = 0; round < 3; ++round) {
    Unix::socket peer(io_);
    UnixStream stream = connectedTo(peer);
    boost::asio::write(peer, boost::asio::buffer(std::string("last")));
    peer.shutdown(Unix::socket::shutdown_send);
    std::vector<char> buffer(64);
    std::optional<ReadResult> first, second;
    stream.readSome(boost::asio::buffer(buffer), [&](ErrorCode ec, std::size_t n) {
      first = ReadResult{ec, std::string(buffer.data(), n)};
      stream.readSome(boost::asio::buffer(buffer), [&](ErrorCode ec2, std::size_t n2) {
        second = ReadResult{ec2, std::string(buffer.data(), n2)};
      });
    });
    io_.restart();
    io_.run_for(std::chrono::seconds(5));
    ASSERT_TRUE(first);
    EXPECT_EQ(first->bytes, "last");
    ASSERT_TRUE(second) << "round " << round << ": the read after the last bytes never completed";
    EXPECT_EQ(second->ec, boost::asio::error::eof);
  }
}

TEST_F(SocketStreamTest, BytesAndAHalfCloseThatArriveTogetherWhileAReadWaitsAreBothRead) {
  // The read waits in the reactor first; then bytes and FIN come before the reactor looks
  // again, so that one epoll event reports both.
  std::vector<char> buffer(64);
  std::optional<ReadResult> first, second;
  stream_.readSome(boost::asio::buffer(buffer), [&](ErrorCode ec, std::size_t n) {
    first = ReadResult{ec, std::string(buffer.data(), n)};
  });
  io_.poll();
  ASSERT_FALSE(first);
  boost::asio::write(theirs_, boost::asio::buffer(std::string("late")));
  theirs_.shutdown(Unix::socket::shutdown_send);
  io_.restart();
  io_.run_for(std::chrono::seconds(5));
  ASSERT_TRUE(first);
  EXPECT_EQ(first->bytes, "late");
  auto next = readOnce(64);
  ASSERT_TRUE(next) << "the read after the last bytes never completed";
  EXPECT_EQ(next->ec, boost::asio::error::eof);
}

TEST_F(SocketStreamTest, AHalfCloseAfterTheSocketRanEmptyIsHeard) {
  auto second = readAfterEmptyWhilePeer([this] { theirs_.shutdown(Unix::socket::shutdown_send); });
  ASSERT_TRUE(second) << "a FIN sent after the socket ran empty was never read";
  EXPECT_EQ(second->ec, boost::asio::error::eof);
}

TEST_F(SocketStreamTest, AReadAfterTheSocketRanEmptyHearsBytesThatComeLater) {
  auto second = readAfterEmptyWhilePeer(
      [this] { boost::asio::write(theirs_, boost::asio::buffer(std::string("b"))); });
  ASSERT_TRUE(second) << "bytes sent after the socket ran empty were never read";
  EXPECT_EQ(second->bytes, "b");
}

TEST_F(SocketStreamTest, ABufferFilledExactlyAndAOneByteBufferGetEveryByte) {
  boost::asio::write(theirs_, boost::asio::buffer(std::string("0123456789xy")));
  auto ten = readOnce(10);
  ASSERT_TRUE(ten);
  EXPECT_EQ(ten->bytes, "0123456789");
  auto one = readOnce(1);
  ASSERT_TRUE(one);
  EXPECT_EQ(one->bytes, "x");
  auto rest = readOnce(1);
  ASSERT_TRUE(rest);
  EXPECT_EQ(rest->bytes, "y");
}

TEST_F(SocketStreamTest, AClosePendingReadCompletesAsAborted) {
  std::optional<ErrorCode> got;
  std::vector<char> buffer(16);
  stream_.readSome(boost::asio::buffer(buffer), [&](ErrorCode ec, std::size_t) { got = ec; });
  io_.poll();
  EXPECT_FALSE(got);
  stream_.close();
  io_.run_for(std::chrono::seconds(5));
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, boost::asio::error::operation_aborted);
}

TEST_F(SocketStreamTest, ChunksOfEverySizeWhileReadingArriveWholeAndInOrder) {
  // A writer racing the reader, so that bytes also land between the two halves of a read.
  constexpr std::size_t kTotal = std::size_t{4} << 20;
  std::string sent(kTotal, '\0');
  std::mt19937 random(7);
  for (auto& c : sent) c = static_cast<char>(random());
  std::thread writer([this, &sent] {
    std::mt19937 sizes(11);
    for (std::size_t at = 0; at < sent.size();) {
      const std::size_t n = std::min<std::size_t>(sent.size() - at, 1 + sizes() % 70000);
      boost::asio::write(theirs_, boost::asio::buffer(sent.data() + at, n));
      at += n;
      if (sizes() % 8 == 0) std::this_thread::yield();
    }
    theirs_.shutdown(Unix::socket::shutdown_send);
  });
  std::string received;
  std::mt19937 sizes(13);
  for (;;) {
    auto got = readOnce(1 + sizes() % 9000);
    ASSERT_TRUE(got) << "a read never completed after " << received.size() << " bytes";
    if (got->ec == boost::asio::error::eof) break;
    ASSERT_FALSE(got->ec) << got->ec.message();
    received += got->bytes;
  }
  writer.join();
  EXPECT_EQ(received.size(), sent.size());
  EXPECT_TRUE(received == sent) << "bytes arrived out of order or changed";
}

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
