#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <thread>
#include <vector>

#include "forwarding/IndirectTcpForward.h"
#include "server/net/ByteStream.h"

namespace berth::fwd {
namespace {

using boost::asio::ip::tcp;

// The driver's factory (QEMU's hostfwd over QMP, in the daemon): records what it was asked to
// open and how many of its forwards are open.
class RecordingDriver : public ListenerFactory {
 public:
  struct Forward : Listener {
    explicit Forward(int& live) : live_(live) { ++live_; }
    ~Forward() override { --live_; }
    int& live_;
  };
  std::unique_ptr<Listener> open(const ForwardSpec& spec, std::string& error) override {
    opened.push_back(spec);
    if (!refuse.empty()) {
      error = refuse;
      return nullptr;
    }
    return std::make_unique<Forward>(live);
  }
  std::vector<ForwardSpec> opened;
  int live = 0;
  std::string refuse;
};

// Connects to 127.0.0.1:port; -1 when refused.
int connectTo(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool bindable(std::uint16_t port) {
  boost::asio::io_context io;
  tcp::acceptor acceptor(io);
  net::ErrorCode ec;
  acceptor.open(tcp::v4(), ec);
  acceptor.set_option(boost::asio::socket_base::reuse_address(true), ec);
  acceptor.bind({boost::asio::ip::address_v4::loopback(), port}, ec);
  return !ec;
}

std::uint16_t freePort() {
  boost::asio::io_context io;
  tcp::acceptor acceptor(io, {boost::asio::ip::address_v4::loopback(), 0});
  return acceptor.local_endpoint().port();
}

class IndirectTcpForwardTest : public ::testing::Test {
 protected:
  ForwardSpec spec() const {
    ForwardSpec s;
    s.proto = "tcp";
    s.bind_ip = "127.0.0.1";
    s.host_port = host_port_;
    s.guest_port = 8080;
    s.container_port = 80;
    s.container_id = "c1";
    s.container_name = "web";
    return s;
  }
  std::unique_ptr<IndirectTcpForward> open(std::uint16_t via, std::string& error) {
    return IndirectTcpForward::open(strand_, io_.get_executor(), spec(), via, driver_, nullptr,
                                    error);
  }

  boost::asio::io_context io_;
  boost::asio::any_io_executor strand_ = boost::asio::make_strand(io_);
  RecordingDriver driver_;
  std::uint16_t host_port_ = freePort();
};

TEST_F(IndirectTcpForwardTest, RelaysTheHostPortThroughTheDriversForwardOnTheLoopbackPort) {
  // The driver's forward on `via`, as QEMU's hostfwd would hold it: an echo server here.
  tcp::acceptor far(io_, {boost::asio::ip::address_v4::loopback(), 0});
  const std::uint16_t via = far.local_endpoint().port();
  far.async_accept([](net::ErrorCode ec, tcp::socket socket) {
    if (ec) return;
    auto s = std::make_shared<tcp::socket>(std::move(socket));
    auto buffer = std::make_shared<std::array<char, 16>>();
    s->async_read_some(boost::asio::buffer(*buffer), [s, buffer](net::ErrorCode, std::size_t n) {
      boost::asio::async_write(*s, boost::asio::buffer(*buffer, n),
                               [s, buffer](net::ErrorCode, std::size_t) {});
    });
  });
  std::string error;
  auto forward = open(via, error);
  ASSERT_TRUE(forward) << error;
  ASSERT_EQ(driver_.opened.size(), 1U);
  ForwardSpec asked = spec();
  asked.host_port = via;  // the same guest port and container, from 127.0.0.1:via
  EXPECT_EQ(driver_.opened[0], asked);
  EXPECT_EQ(forward->driverSpec(), asked);
  EXPECT_EQ(driver_.live, 1);
  EXPECT_FALSE(bindable(host_port_));  // berth holds the host port itself

  auto guard = boost::asio::make_work_guard(io_);
  std::thread runner([this] { io_.run(); });
  const int client = connectTo(host_port_);
  ASSERT_GE(client, 0);
  timeval five{5, 0};
  ::setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &five, sizeof five);
  ASSERT_EQ(::send(client, "ping", 4, MSG_NOSIGNAL), 4);
  char reply[8] = {};
  EXPECT_EQ(::recv(client, reply, sizeof reply, MSG_WAITALL), 4);
  ::close(client);
  EXPECT_EQ(std::string(reply, 4), "ping");
  guard.reset();
  io_.stop();
  runner.join();
  forward.reset();
  EXPECT_EQ(driver_.live, 0);
  EXPECT_TRUE(bindable(host_port_));
}

TEST_F(IndirectTcpForwardTest, TheDriversForwardIsDroppedAndReopenedWhileTheHostPortStays) {
  std::string error;
  auto forward = open(freePort(), error);
  ASSERT_TRUE(forward) << error;
  forward->dropDriverForward();  // the guest stops for now
  EXPECT_EQ(driver_.live, 0);
  EXPECT_FALSE(bindable(host_port_));
  EXPECT_EQ(forward->reopenDriverForward(driver_), "");  // its next boot
  EXPECT_EQ(driver_.live, 1);
  EXPECT_EQ(forward->reopenDriverForward(driver_), "");  // open already: nothing asked
  EXPECT_EQ(driver_.opened.size(), 2U);
  EXPECT_EQ(driver_.opened[0], driver_.opened[1]);
}

TEST_F(IndirectTcpForwardTest, ADriverThatFailsAtOnceLeavesTheHostPortFree) {
  driver_.refuse = "Could not set up host forwarding rule";
  std::string error;
  EXPECT_FALSE(open(freePort(), error));
  EXPECT_EQ(error, "Could not set up host forwarding rule");
  EXPECT_TRUE(bindable(host_port_));
}

TEST_F(IndirectTcpForwardTest, ATakenHostPortAsksTheDriverForNothing) {
  tcp::acceptor taken(io_, {boost::asio::ip::address_v4::loopback(), host_port_});
  std::string error;
  EXPECT_FALSE(open(freePort(), error));
  EXPECT_NE(error.find("in use"), std::string::npos) << error;
  EXPECT_TRUE(driver_.opened.empty());
}

}  // namespace
}  // namespace berth::fwd
