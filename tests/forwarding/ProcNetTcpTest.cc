#include <gtest/gtest.h>

#include "forwarding/ProcNetTcp.h"

namespace berth::fwd {
namespace {

// As an x86-64 kernel prints them (Linux 6.1, Debian's guest), trimmed after the uid column.
constexpr const char* kTcp =
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid\n"
    "   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0\n"
    "   1: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0\n"
    "   2: 0F02000A:0948 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0\n"
    "   3: 0F02000A:0016 0202000A:C350 01 00000000:00000000 02:000A2D3C 00000000     0\n"
    "   4: 0100007F:0050 0100007F:9C40 06 00000000:00000000 03:00000D47 00000000     0\n";
constexpr const char* kTcp6 =
    "  sl  local_address                         remote_address                        st\n"
    "   0: 00000000000000000000000000000000:0948 00000000000000000000000000000000:0000 0A\n"
    "   1: 00000000000000000000000001000000:1F91 00000000000000000000000000000000:0000 0A\n"
    "   2: 0000000000000000FFFF00000F02000A:0050 00000000000000000000000000000000:0000 0A\n"
    "   3: 000080FE00000000FF005452123456FE:0051 00000000000000000000000000000000:0000 0A\n";

std::vector<ListeningSocket> sockets(std::initializer_list<ListeningSocket> list) { return list; }

TEST(ProcNetTcpTest, ReadsIpv4ListenersFromHexWords) {
  EXPECT_EQ(ProcNetTcp::listening(kTcp),
            sockets({{"0.0.0.0", 22}, {"127.0.0.1", 8080}, {"10.0.2.15", 2376}}));
}

TEST(ProcNetTcpTest, ReadsIpv6ListenersFromFourHexWords) {
  EXPECT_EQ(ProcNetTcp::listening(kTcp6), sockets({{"::", 2376},
                                                   {"::1", 8081},
                                                   {"::ffff:10.0.2.15", 80},
                                                   {"fe80::5254:ff:fe56:3412", 81}}));
}

TEST(ProcNetTcpTest, OnlyStateListenCounts) {
  // Established (01) and TIME_WAIT (06) rows of the same ports are not listeners.
  const std::string rows =
      "   3: 0F02000A:0016 0202000A:C350 01 00000000:00000000\n"
      "   4: 0100007F:0050 0100007F:9C40 06\n"
      "   5: 00000000:0051 00000000:0000 0a\n";  // the kernel writes upper case
  EXPECT_TRUE(ProcNetTcp::listening(rows).empty());
}

TEST(ProcNetTcpTest, SkipsHeadersMalformedRowsAndTheEndMarker) {
  const std::string rows =
      "  sl  local_address rem_address   st\n"
      "garbage\n"
      "   1: 0100007F 00000000:0000 0A\n"      // no port
      "   2: 0100007:1F90 00000000:0000 0A\n"  // 7 hex digits
      "   3: 0100007F:1FZ0 00000000:0000 0A\n"
      "   4: 0100007F:10000 00000000:0000 0A\n"  // past 65535
      "   5: 0100007F:0050\n"                    // cut before the state
      ".\n"
      "\n"
      "   6: 00000000:0050 00000000:0000 0A";  // the last row may lack its newline
  EXPECT_EQ(ProcNetTcp::listening(rows), sockets({{"0.0.0.0", 80}}));
}

}  // namespace
}  // namespace berth::fwd
