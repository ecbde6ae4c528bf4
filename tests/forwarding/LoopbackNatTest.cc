#include <gtest/gtest.h>

#include "forwarding/LoopbackNat.h"

namespace berth::fwd {
namespace {

TEST(LoopbackNatTest, SyncReplacesTheWholeMapInOneScript) {
  EXPECT_EQ(LoopbackNat::syncScript("berth_x_p1", {}), "flush map ip berth_x_p1 ports");
  EXPECT_EQ(LoopbackNat::syncScript("berth_x_p1", {{18081, 80}, {18080, 8080}}),
            "flush map ip berth_x_p1 ports; add element ip berth_x_p1 ports "
            "{ 18080 : 8080, 18081 : 80 }");
}

TEST(LoopbackNatTest, SetupDnatsOnlyLoopbackTcpAndGuardsTheDevice) {
  auto script = LoopbackNat::setupScript("berth_x_p1", "172.30.7.2", "bph7", "0");
  // Replaces a table of the same name in the same transaction, recording what it found.
  EXPECT_EQ(script.rfind("add table ip berth_x_p1; delete table ip berth_x_p1; add table ip "
                         "berth_x_p1 { comment \"berth: route_localnet of bph7 was 0\"; };",
                         0),
            0u);
  EXPECT_NE(script.find("ip daddr 127.0.0.1 meta l4proto tcp dnat to 172.30.7.2 : tcp dport map "
                        "@ports"),
            std::string::npos);
  // Masquerades only what this table translated, and only towards the guest's device.
  EXPECT_NE(script.find("oifname \"bph7\" ip saddr 127.0.0.0/8 ct status dnat masquerade"),
            std::string::npos);
  EXPECT_NE(script.find("iifname \"bph7\" ip saddr 127.0.0.0/8 drop"), std::string::npos);
  EXPECT_NE(script.find("iifname \"bph7\" ip daddr 127.0.0.0/8 drop"), std::string::npos);
}

TEST(LoopbackNatTest, StaleTablesAreOurEarlierOnesAndThoseOfDeadOwners) {
  const std::string listing =
      "table ip filter\n"
      "table ip berth_dev_p100\n"      // our name, an earlier daemon (pid alive or not)
      "table ip berth_other_p200\n"    // another profile, alive
      "table ip berth_gone_p300\n"     // another profile, its daemon gone
      "table ip6 berth_dev_p100\n"     // not a family berth uses
      "table ip berth_my_prod_p400\n"  // an owner name with "_p" in it, alive
      "table ip berth_nopid\n";        // not berth's naming
  auto alive = [](long pid) { return pid == 100 || pid == 200 || pid == 400; };
  EXPECT_EQ(LoopbackNat::staleTables(listing, "dev", alive),
            (std::vector<std::string>{"berth_dev_p100", "berth_gone_p300"}));
  EXPECT_EQ(LoopbackNat::staleTables(listing, "my_prod", alive),
            (std::vector<std::string>{"berth_gone_p300", "berth_my_prod_p400"}));
}

TEST(LoopbackNatTest, ASuccessorRestoresWhatTheFirstOwnerFound) {
  const std::string listing =
      "table ip berth_x_p1 {\n\tcomment \"berth: route_localnet of bph7 was 0\"\n\n\tmap ports {";
  EXPECT_EQ(LoopbackNat::recordedLocalnet(listing, "bph7"), "0");
  EXPECT_EQ(LoopbackNat::recordedLocalnet(listing, "bph8"), "");  // another device
  EXPECT_EQ(LoopbackNat::recordedLocalnet("table ip berth_x_p1 {\n}", "bph7"), "");
}

}  // namespace
}  // namespace berth::fwd
