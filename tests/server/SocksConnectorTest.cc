// SocksConnector against a scripted SOCKS5 server on a unix socket (what `ssh -D PATH` is): the
// stream after a success carries the bytes both ways; a refusal (OpenSSH closes before its
// reply, another server answers code 5) fails the connect, saying why.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <cstdlib>
#include <string>
#include <thread>

#include "server/net/SocksConnector.h"

namespace berth::net {
namespace {

using boost::asio::ip::make_address;
using boost::asio::ip::tcp;

// Serves one connection: reads the greeting and the request, then `answer` (raw bytes; "" closes).
class ScriptedProxy {
 public:
  explicit ScriptedProxy(std::string answer) : answer_(std::move(answer)) {
    char dir[] = "/tmp/socks-test-XXXXXX";
    path_ = std::string(::mkdtemp(dir)) + "/p.sock";
    listen_ = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    path_.copy(addr.sun_path, sizeof(addr.sun_path) - 1);
    EXPECT_EQ(::bind(listen_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(::listen(listen_, 1), 0);
    thread_ = std::thread([this] { serve(); });
  }
  ~ScriptedProxy() {
    thread_.join();
    ::close(listen_);
    ::unlink(path_.c_str());
  }
  const std::string& path() const { return path_; }
  std::string request;  // what the client sent after the greeting

 private:
  void serve() {
    const int fd = ::accept(listen_, nullptr, nullptr);
    char greeting[3];
    if (::read(fd, greeting, 3) == 3) {
      (void)::write(fd, "\x05\x00", 2);
      char buf[64];
      const auto n = ::read(fd, buf, sizeof(buf));
      if (n > 0) request.assign(buf, static_cast<std::size_t>(n));
      if (!answer_.empty()) {
        (void)::write(fd, answer_.data(), answer_.size());
        char echo[16];
        const auto m = ::read(fd, echo, sizeof(echo));  // echoes one read back
        if (m > 0) (void)::write(fd, echo, static_cast<std::size_t>(m));
      }
    }
    ::close(fd);
  }

  std::string answer_, path_;
  int listen_ = -1;
  std::thread thread_;
};

struct Outcome {
  ByteStreamPtr stream;
  std::string error;
};

Outcome connectThrough(const std::string& path, const tcp::endpoint& target,
                       boost::asio::io_context& io) {
  Outcome out;
  SocksConnector connector(path, target, "web (172.17.0.2:80)");
  connector.connect(io.get_executor(), [&](ByteStreamPtr stream, const ConnectError* error) {
    out.stream = std::move(stream);
    if (error) out.error = error->message;
  });
  io.run();
  io.restart();
  return out;
}

const std::string kSuccess("\x05\x00\x00\x01\x00\x00\x00\x00\x00\x00", 10);

TEST(SocksConnectorTest, ConnectRequestNamesTheAddressAndPort) {
  EXPECT_EQ(SocksConnector::connectRequest({make_address("172.17.0.2"), 8080}),
            std::string("\x05\x01\x00\x01\xac\x11\x00\x02\x1f\x90", 10));
  const auto v6 = SocksConnector::connectRequest({make_address("::1"), 80});
  ASSERT_EQ(v6.size(), 22u);
  EXPECT_EQ(v6[3], '\x04');
  EXPECT_EQ(v6[19], '\x01');
  EXPECT_EQ(v6.substr(20), std::string("\x00\x50", 2));
}

TEST(SocksConnectorTest, SuccessHandsOverAStreamThatCarriesBytes) {
  ScriptedProxy proxy(kSuccess);
  boost::asio::io_context io;
  auto out = connectThrough(proxy.path(), {make_address("172.17.0.2"), 80}, io);
  ASSERT_TRUE(out.stream) << out.error;
  std::string sent = "ping";
  char got[4];
  const boost::asio::const_buffer buffer(sent.data(), sent.size());
  out.stream->writeSome(std::span(&buffer, 1), [](ErrorCode, std::size_t) {});
  io.run();
  io.restart();
  std::size_t n = 0;
  out.stream->readSome(boost::asio::buffer(got, sizeof(got)),
                       [&](ErrorCode, std::size_t read) { n = read; });
  io.run();
  EXPECT_EQ(std::string(got, n), "ping");
  EXPECT_EQ(proxy.request, std::string("\x05\x01\x00\x01\xac\x11\x00\x02\x00\x50", 10));
}

TEST(SocksConnectorTest, ProxyClosingBeforeItsReplyIsARefusal) {
  ScriptedProxy proxy("");  // OpenSSH when the guest refuses: no reply, the socket closes
  boost::asio::io_context io;
  auto out = connectThrough(proxy.path(), {make_address("172.17.0.2"), 81}, io);
  EXPECT_FALSE(out.stream);
  EXPECT_EQ(out.error,
            "cannot reach web (172.17.0.2:80): connection refused or unreachable (the proxy "
            "closed)");
}

TEST(SocksConnectorTest, AFailureCodeSaysWhich) {
  ScriptedProxy proxy(std::string("\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00", 10));
  boost::asio::io_context io;
  auto out = connectThrough(proxy.path(), {make_address("172.17.0.2"), 81}, io);
  EXPECT_FALSE(out.stream);
  EXPECT_EQ(out.error, "cannot reach web (172.17.0.2:80): connection refused");
}

TEST(SocksConnectorTest, NoProxySaysSo) {
  boost::asio::io_context io;
  auto out = connectThrough("/nonexistent/p.sock", {make_address("172.17.0.2"), 80}, io);
  EXPECT_FALSE(out.stream);
  EXPECT_NE(out.error.find("its proxy /nonexistent/p.sock: "), std::string::npos) << out.error;
}

}  // namespace
}  // namespace berth::net
