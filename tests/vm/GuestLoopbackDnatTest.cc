#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <stdexcept>

#include "server/net/ChildProcess.h"
#include "vm/GuestLoopbackDnat.h"

namespace berth::vm {
namespace {

const std::string kRule22003 =
    "-A BERTH-LOOPBACK -d 10.0.2.15/32 -i $dev -p tcp --dport 22003 -j DNAT --to-destination "
    "127.0.0.1:22003\n";

TEST(GuestLoopbackDnatTest, OnlyIpv4LoopbackAddressesAreRedirectable) {
  EXPECT_EQ(GuestLoopbackDnat::redirectable("127.0.0.1"), "");
  EXPECT_EQ(GuestLoopbackDnat::redirectable("127.0.0.53"), "");
  EXPECT_NE(GuestLoopbackDnat::redirectable("::1").find("IPv6"), std::string::npos);
  EXPECT_NE(GuestLoopbackDnat::redirectable("10.0.2.15"), "");
  EXPECT_NE(GuestLoopbackDnat::redirectable("127.0.0.1; reboot"), "");
  GuestLoopbackDnat dnat("10.0.2.15");
  EXPECT_THROW(dnat.add(80, "::1"), std::invalid_argument);
  EXPECT_THROW(GuestLoopbackDnat::script({}, "10.0.2.15; reboot"), std::invalid_argument);
}

TEST(GuestLoopbackDnatTest, AContainersIpv4AndPortIsRedirectable) {
  // What portmap's --to-destination names for a CNI hostPort on host IP 127.0.0.1.
  EXPECT_EQ(GuestLoopbackDnat::redirectable("10.4.0.5:80"), "");
  EXPECT_EQ(GuestLoopbackDnat::redirectable("10.4.0.5:65535"), "");
  for (const char* bad : {"10.4.0.5:0", "10.4.0.5:65536", "10.4.0.5:", ":80", "10.4.0.5:80x",
                          "10.4.0.5:80; reboot", "10.4.0:80", "[fd00::5]:80", "10.4.0.5:-1"})
    EXPECT_NE(GuestLoopbackDnat::redirectable(bad), "") << bad;
  GuestLoopbackDnat dnat("10.0.2.15");
  EXPECT_THROW(dnat.add(8080, "10.4.0.5:80 ; reboot"), std::invalid_argument);
  EXPECT_THROW(GuestLoopbackDnat::script({{8080, "10.4.0.5:0"}}, "10.0.2.15"),
               std::invalid_argument);
}

TEST(GuestLoopbackDnatTest, ARedirectToAContainerKeepsItsOwnPort) {
  const auto script = GuestLoopbackDnat::script({{8080, "10.4.0.5:80"}}, "10.0.2.15");
  EXPECT_NE(script.find("-A BERTH-LOOPBACK -d 10.0.2.15/32 -i $dev -p tcp --dport 8080 -j DNAT "
                        "--to-destination 10.4.0.5:80\n"),
            std::string::npos)
      << script;
  // Counted like a loopback redirect: the port's rule stays until its last forward goes, and
  // the container's new address (a new task on the same hostPort) replaces it.
  GuestLoopbackDnat dnat("10.0.2.15");
  dnat.add(8080, "10.4.0.5:80");
  EXPECT_EQ(dnat.wanted(), (GuestLoopbackDnat::Table{{8080, "10.4.0.5:80"}}));
  dnat.add(8080, "10.4.0.6:80");
  dnat.remove(8080, "10.4.0.5:80");
  EXPECT_EQ(dnat.wanted(), (GuestLoopbackDnat::Table{{8080, "10.4.0.6:80"}}));
  dnat.remove(8080, "10.4.0.6:80");
  EXPECT_TRUE(dnat.wanted().empty());
}

TEST(GuestLoopbackDnatTest, ScriptReplacesBerthsChainWithOneDnatPerPort) {
  const auto script =
      GuestLoopbackDnat::script({{22003, "127.0.0.1"}, {5432, "127.0.0.2"}}, "10.0.2.15");
  // The whole chain is declared, flushed and filled in one iptables-restore, without touching
  // the rest of the nat table (--noflush): Docker's rules stay.
  EXPECT_NE(script.find("iptables-restore -w --noflush <<EOF\n*nat\n:BERTH-LOOPBACK - [0:0]\n"
                        "-F BERTH-LOOPBACK\n"
                        "-A BERTH-LOOPBACK -d 10.0.2.15/32 -i $dev -p tcp --dport 5432 -j DNAT "
                        "--to-destination 127.0.0.2:5432\n" +
                        kRule22003 + "COMMIT\nEOF\n"),
            std::string::npos)
      << script;
  // Jumped to once, from the top of PREROUTING.
  EXPECT_NE(script.find("iptables -w -t nat -C PREROUTING -j BERTH-LOOPBACK 2>/dev/null || "
                        "iptables -w -t nat -I PREROUTING -j BERTH-LOOPBACK"),
            std::string::npos);
  // route_localnet goes on before the first rule, on the interface holding the guest address.
  EXPECT_NE(script.find("ip -o -4 addr show to \"$a/32\""), std::string::npos);
  EXPECT_LT(script.find("echo 1 >$l"), script.find("iptables-restore"));
  EXPECT_EQ(script.find("echo 0 >$l"), std::string::npos);
}

TEST(GuestLoopbackDnatTest, TheEmptyTableFlushesTheChainAndTurnsRouteLocalnetOff) {
  const auto script = GuestLoopbackDnat::script({}, "10.0.2.15");
  EXPECT_NE(script.find(":BERTH-LOOPBACK - [0:0]\n-F BERTH-LOOPBACK\nCOMMIT\n"), std::string::npos)
      << script;
  EXPECT_EQ(script.find("-A BERTH-LOOPBACK"), std::string::npos);
  EXPECT_EQ(script.find("echo 1 >$l"), std::string::npos);
  EXPECT_GT(script.find("echo 0 >$l"), script.find("iptables-restore"));
}

TEST(GuestLoopbackDnatTest, ScriptIsValidBash) {
  for (const auto& table :
       {GuestLoopbackDnat::Table{}, GuestLoopbackDnat::Table{{22003, "127.0.0.1"}},
        GuestLoopbackDnat::Table{{22003, "127.0.0.1"}, {8080, "10.4.0.5:80"}}}) {
    const auto path = ::testing::TempDir() + "/dnat-script.sh";
    std::ofstream(path) << GuestLoopbackDnat::script(table, "10.0.2.15");
    const auto result = net::ChildProcess::run({"bash", "-n", path});
    EXPECT_EQ(result.exit_code, 0) << result.output;
    std::remove(path.c_str());
  }
}

TEST(GuestLoopbackDnatTest, PendingRunsOnlyWhatTheGuestDoesNotHold) {
  GuestLoopbackDnat dnat("10.0.2.15");
  // Nothing known about the guest yet: even the empty table is written (it may hold stale rules).
  ASSERT_TRUE(dnat.pending());
  EXPECT_TRUE(dnat.pending()->table.empty());
  dnat.applied({});
  EXPECT_FALSE(dnat.pending());

  dnat.add(22003, "127.0.0.1");
  auto change = dnat.pending();
  ASSERT_TRUE(change);
  EXPECT_EQ(change->table, (GuestLoopbackDnat::Table{{22003, "127.0.0.1"}}));
  EXPECT_NE(change->script.find(kRule22003), std::string::npos);
  dnat.applied(change->table);
  EXPECT_FALSE(dnat.pending());

  // Two forwards of one port (127.0.0.1 and [::1] on the host) nest: the rule stays until both go.
  dnat.add(22003, "127.0.0.1");
  EXPECT_FALSE(dnat.pending());
  dnat.remove(22003, "127.0.0.1");
  EXPECT_FALSE(dnat.pending());
  dnat.remove(22003, "127.0.0.1");
  change = dnat.pending();
  ASSERT_TRUE(change);
  EXPECT_TRUE(change->table.empty());
  dnat.applied(change->table);

  // A removal of what was never added changes nothing.
  dnat.remove(8080, "127.0.0.1");
  EXPECT_FALSE(dnat.pending());

  // A failed run (or a new boot) leaves the guest's table unknown: the next pending rewrites it.
  dnat.add(8080, "127.0.0.1");
  dnat.applied(dnat.pending()->table);
  dnat.forget();
  ASSERT_TRUE(dnat.pending());
  EXPECT_EQ(dnat.pending()->table, (GuestLoopbackDnat::Table{{8080, "127.0.0.1"}}));
}

TEST(GuestLoopbackDnatTest, APortOnTwoLoopbackAddressesGoesToTheLowest) {
  GuestLoopbackDnat dnat("10.0.2.15");
  dnat.add(53, "127.0.0.53");
  dnat.add(53, "127.0.0.1");
  EXPECT_EQ(dnat.wanted(), (GuestLoopbackDnat::Table{{53, "127.0.0.1"}}));
  dnat.remove(53, "127.0.0.1");
  EXPECT_EQ(dnat.wanted(), (GuestLoopbackDnat::Table{{53, "127.0.0.53"}}));
}

}  // namespace
}  // namespace berth::vm
