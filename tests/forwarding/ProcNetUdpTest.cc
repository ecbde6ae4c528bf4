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

TEST(ProcNetUdpTest, FindsALocalPortOnAnyReachableAddress) {
  EXPECT_TRUE(ProcNetUdp::bound(kUdp, 80));
  EXPECT_FALSE(ProcNetUdp::bound(kUdp, 53));  // 127.0.0.1 only: forwarded datagrams miss it
  EXPECT_TRUE(ProcNetUdp::bound(kUdp6, 8080));
  EXPECT_FALSE(ProcNetUdp::bound(kUdp, 8080));
  EXPECT_FALSE(ProcNetUdp::bound(kUdp6, 80));
}

// Written on x86-64 (little-endian words), as the kernel prints them there.
TEST(ProcNetUdpTest, LoopbackAddressesDoNotCount) {
  auto row = [](const char* local) { return std::string("  1: ") + local + " 00000000:0000 07\n"; };
  EXPECT_FALSE(ProcNetUdp::bound(row("0200007F:0050"), 80));  // 127.0.0.2
  EXPECT_TRUE(ProcNetUdp::bound(row("020011AC:0050"), 80));   // 172.17.0.2, the container's
  EXPECT_FALSE(ProcNetUdp::bound(row("00000000000000000000000001000000:0050"), 80));  // ::1
  EXPECT_FALSE(ProcNetUdp::bound(row("0000000000000000FFFF00000100007F:0050"), 80));  // mapped
  EXPECT_TRUE(ProcNetUdp::bound(row("0000000000000000FFFF0000020011AC:0050"), 80));
  EXPECT_TRUE(ProcNetUdp::bound(row("000080FE00000000FF0C4202FE011000:0050"), 80));  // fe80::
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
  address.sin_addr.s_addr = htonl(INADDR_ANY);
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
