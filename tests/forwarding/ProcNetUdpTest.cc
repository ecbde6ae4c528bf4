#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "forwarding/ProcNetUdp.h"

namespace berth::fwd {
namespace {

// Rows as the kernel writes them (Linux 6.x), cut after the state column.
constexpr const char* kUdp =
    "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid\n"
    "  123: 00000000:0050 00000000:0000 07 00000000:00000000 00:00000000 00000000     0\n"
    " 1024: 0100007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0\n";
constexpr const char* kUdp6 =
    "  sl  local_address                         remote_address                        st\n"
    "  7: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 07\n";

TEST(ProcNetUdpTest, FindsALocalPortOnAnyAddress) {
  EXPECT_TRUE(ProcNetUdp::bound(kUdp, 80));
  EXPECT_TRUE(ProcNetUdp::bound(kUdp, 53));
  EXPECT_TRUE(ProcNetUdp::bound(kUdp6, 8080));
  EXPECT_FALSE(ProcNetUdp::bound(kUdp, 8080));
  EXPECT_FALSE(ProcNetUdp::bound(kUdp6, 80));
}

TEST(ProcNetUdpTest, RemotePortsHeaderAndBrokenRowsDoNotCount) {
  EXPECT_FALSE(ProcNetUdp::bound(kUdp, 0));  // every rem_address port is 0
  EXPECT_FALSE(ProcNetUdp::bound("", 80));
  EXPECT_FALSE(ProcNetUdp::bound("   sl  local_address\n", 80));
  EXPECT_FALSE(ProcNetUdp::bound("  1: 00000000:00ZZ 00000000:0000 07\n", 80));
  EXPECT_FALSE(ProcNetUdp::bound("  1: 00000000 00000000:0050 07\n", 80));
  EXPECT_TRUE(ProcNetUdp::bound("  1: 00000000:0050", 80));  // a last row without a newline
}

TEST(ProcNetUdpTest, SeesASocketThisProcessBinds) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  socklen_t length = sizeof address;
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
  const auto port = ntohs(address.sin_port);
  EXPECT_EQ(ProcNetUdp::boundIn(::getpid(), port), std::optional<bool>(true));
  ::close(fd);
  EXPECT_EQ(ProcNetUdp::boundIn(::getpid(), port), std::optional<bool>(false));
  EXPECT_EQ(ProcNetUdp::boundIn(0, port), std::nullopt);  // no /proc/0
}

}  // namespace
}  // namespace berth::fwd
