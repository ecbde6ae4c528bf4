#include <gtest/gtest.h>

#include <ostream>
#include <string_view>

#include "forwarding/GuestWatchOutput.h"
#include "forwarding/GuestWatchScript.h"

namespace berth::fwd {

// Found by gtest through ADL: a failed comparison names the listeners, not their bytes.
std::ostream& operator<<(std::ostream& os, const ListeningSocket& s) {
  return os << s.protocol << " " << s.address << ":" << s.port
            << (s.destination.empty() ? "" : " -> " + s.destination);
}

namespace {

// One socket table as the loop prints it: sshd on 0.0.0.0:22, a service on 127.0.0.1:8080 and
// on 0.0.0.0:80 (cut after the state column), then its end line.
constexpr const char* kSockets =
    "0: 00000000:0016 00000000:0000 0A\n"
    "0: 0100007F:1F90 00000000:0000 0A\n"
    "0: 00000000:0050 00000000:0000 0A\n"
    ".\n";

// A nat table's CNI rules as the loop prints them (portmap 1.1.1): tcp 18080 on any host IP,
// udp 18053 on any, tcp 18081 on 127.0.0.1 and tcp 80 on any (a port a socket holds too), then
// its end line.
constexpr const char* kNat =
    "-A CNI-DN-1 -s 10.77.0.0/24 -p tcp -m tcp --dport 18080 -j CNI-HOSTPORT-SETMARK\n"
    "-A CNI-DN-1 -p tcp -m tcp --dport 18080 -j DNAT --to-destination 10.77.0.2:80\n"
    "-A CNI-DN-1 -p udp -m udp --dport 18053 -j DNAT --to-destination 10.77.0.2:53\n"
    "-A CNI-DN-1 -d 127.0.0.1/32 -p tcp -m tcp --dport 18081 -j DNAT --to-destination "
    "10.77.0.2:81\n"
    "-A CNI-DN-1 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.77.0.2:80\n"
    "-A CNI-HOSTPORT-DNAT -p tcp -m multiport --dports 18080,18081,80 -j CNI-DN-1\n"
    "-A CNI-HOSTPORT-DNAT -p udp -m multiport --dports 18053 -j CNI-DN-1\n"
    ".nat\n";

std::vector<ListeningSocket> sockets(std::initializer_list<ListeningSocket> list) { return list; }

// Feeds `text` line by line; how many lines said "report now".
int feed(GuestWatchOutput& out, std::string_view text) {
  int reports = 0;
  while (!text.empty()) {
    const auto newline = text.find('\n');
    reports += out.line(text.substr(0, newline)) ? 1 : 0;
    text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
  }
  return reports;
}

TEST(GuestWatchOutputTest, TheMarkersAreTheScripts) {
  EXPECT_EQ(std::string_view(kSockets).substr(std::string_view(kSockets).size() - 2, 1),
            GuestWatchScript::kEndOfTable);
  EXPECT_EQ(std::string_view(kNat).substr(std::string_view(kNat).size() - 5, 4),
            GuestWatchScript::kEndOfNat);
}

TEST(GuestWatchOutputTest, HostportsJoinTheSocketsAsListenersOnTheirHostIpWithTheirProtocol) {
  GuestWatchOutput out({{22}, true});
  EXPECT_EQ(feed(out, kSockets), 1);
  EXPECT_EQ(out.listeners(), sockets({{"0.0.0.0", 80}, {"127.0.0.1", 8080}}));
  EXPECT_EQ(feed(out, kNat), 1);
  // tcp 80 is listed once; udp 18053 is a UDP listener; 127.0.0.1:18081, which portmap DNATs for
  // the guest's own connections only, carries its container's address for the redirect.
  EXPECT_EQ(out.listeners(), sockets({{"0.0.0.0", 80},
                                      {"127.0.0.1", 8080},
                                      {"0.0.0.0", 18053, "", "udp"},
                                      {"0.0.0.0", 18080},
                                      {"127.0.0.1", 18081, "10.77.0.2:81"}}));
}

TEST(GuestWatchOutputTest, OnePortNumberMappedForTcpAndUdpIsTwoListeners) {
  GuestWatchOutput out({{}, true});
  feed(out, ".\n");
  EXPECT_EQ(feed(out,
                 "-A CNI-DN-4 -p tcp -m tcp --dport 5353 -j DNAT --to-destination 10.77.0.4:53\n"
                 "-A CNI-DN-4 -p udp -m udp --dport 5353 -j DNAT --to-destination 10.77.0.4:53\n"
                 "-A CNI-DN-4 -p sctp -m sctp --dport 5354 -j DNAT --to-destination "
                 "10.77.0.4:54\n"
                 "-A CNI-HOSTPORT-DNAT -j CNI-DN-4\n"
                 ".nat\n"),
            1);
  // sctp has nothing to relay it with: no listener.
  EXPECT_EQ(out.listeners(), sockets({{"0.0.0.0", 5353}, {"0.0.0.0", 5353, "", "udp"}}));
}

TEST(GuestWatchOutputTest, AHostportOnAnotherHostIpIsNoListener) {
  GuestWatchOutput out({{}, true});
  feed(out, kSockets);
  // 192.168.5.15 is neither any address nor loopback; 127.0.0.2 is loopback, and its
  // destination is reported even on a port a loopback socket holds (8080) too.
  EXPECT_EQ(feed(out,
                 "-A CNI-DN-3 -d 192.168.5.15/32 -p tcp --dport 18082 -j DNAT --to-destination "
                 "10.77.0.4:80\n"
                 "-A CNI-DN-3 -d 127.0.0.2/32 -p tcp --dport 8080 -j DNAT --to-destination "
                 "10.77.0.4:81\n"
                 "-A CNI-HOSTPORT-DNAT -p tcp -j CNI-DN-3\n"
                 ".nat\n"),
            1);
  EXPECT_EQ(out.listeners(), sockets({{"0.0.0.0", 22},
                                      {"0.0.0.0", 80},
                                      {"127.0.0.1", 8080},
                                      {"127.0.0.2", 8080, "10.77.0.4:81"}}));
}

TEST(GuestWatchOutputTest, ANatTableBeforeTheFirstSocketTableIsHeldUntilIt) {
  GuestWatchOutput out({{}, false});
  EXPECT_EQ(feed(out, kNat), 0);  // not the guest's listeners yet: its sockets are unknown
  EXPECT_TRUE(out.listeners().empty());
  EXPECT_EQ(feed(out, kSockets), 1);
  // Without `loopback`, 127.0.0.1:8080 is left out; the guest's own ports are none here.
  EXPECT_EQ(
      out.listeners(),
      sockets(
          {{"0.0.0.0", 22}, {"0.0.0.0", 80}, {"0.0.0.0", 18053, "", "udp"}, {"0.0.0.0", 18080}}));
}

TEST(GuestWatchOutputTest, AnEmptyNatTableEndsTheHostportsAndKeepsTheSockets) {
  GuestWatchOutput out({{22}, false});
  feed(out, std::string(kSockets) + kNat);
  EXPECT_EQ(out.listeners(),
            sockets({{"0.0.0.0", 80}, {"0.0.0.0", 18053, "", "udp"}, {"0.0.0.0", 18080}}));
  EXPECT_EQ(feed(out, ".nat\n"), 1);  // portmap's DEL: no CNI rule left
  EXPECT_EQ(out.listeners(), sockets({{"0.0.0.0", 80}}));
  // A new socket table keeps the (empty) nat table's word.
  EXPECT_EQ(feed(out, "0: 00000000:0051 00000000:0000 0A\n.\n"), 1);
  EXPECT_EQ(out.listeners(), sockets({{"0.0.0.0", 81}}));
}

TEST(GuestWatchOutputTest, AMappingOnlyAChainNotEnteredHoldsIsNoListener) {
  GuestWatchOutput out({{}, false});
  feed(out, kSockets);
  EXPECT_EQ(feed(out,
                 "-A CNI-DN-2 -p tcp -m tcp --dport 18090 -j DNAT --to-destination 10.77.0.3:80\n"
                 ".nat\n"),
            1);
  EXPECT_EQ(out.listeners(), sockets({{"0.0.0.0", 22}, {"0.0.0.0", 80}}));
}

TEST(GuestWatchOutputTest, ResetForgetsTheHostportsOfTheLastRun) {
  GuestWatchOutput out({{22}, false});
  feed(out, std::string(kSockets) + kNat);
  out.reset();
  EXPECT_TRUE(out.listeners().empty());
  // The new run's guest has no CNI rule (so its loop prints no nat table): none is reported.
  EXPECT_EQ(feed(out, kSockets), 1);
  EXPECT_EQ(out.listeners(), sockets({{"0.0.0.0", 80}}));
}

TEST(GuestWatchOutputTest, OtherLinesAreKeptAsTheMessageUntilATableEnds) {
  GuestWatchOutput out({{}, false});
  EXPECT_EQ(feed(out, "ssh: connect to host 127.0.0.1 port 2222: Connection refused\n\n"), 0);
  EXPECT_EQ(out.message(), "ssh: connect to host 127.0.0.1 port 2222: Connection refused");
  EXPECT_EQ(feed(out, std::string(300, 'x') + "\n"), 0);
  EXPECT_EQ(out.message().size(), 200u);  // cut
  EXPECT_EQ(feed(out, kNat), 0);
  EXPECT_EQ(out.message(), "");
  // A row cut before its state, or a state other than LISTEN, is no row: a message.
  EXPECT_EQ(feed(out, "0: 00000000:0016 00000000:0000 01\n"), 0);
  EXPECT_FALSE(out.message().empty());
  EXPECT_EQ(feed(out, ".\n"), 1);
  EXPECT_EQ(out.listeners(),
            sockets({{"0.0.0.0", 80}, {"0.0.0.0", 18053, "", "udp"}, {"0.0.0.0", 18080}}));
}

}  // namespace
}  // namespace berth::fwd
