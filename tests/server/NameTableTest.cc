#include <gtest/gtest.h>

#include "server/domains/NameTable.h"

namespace berth::server {
namespace {

// Entries shaped as dockerd 20.10's GET /containers/json gives them.
nlohmann::json container(const std::string& name, const std::string& ip,
                         const std::vector<int>& tcp_ports,
                         nlohmann::json labels = nlohmann::json::object(),
                         const std::string& network_mode = "default") {
  nlohmann::json ports = nlohmann::json::array();
  for (int port : tcp_ports) {
    ports.push_back({{"PrivatePort", port}, {"Type", "tcp"}});
    // A published port is listed once per host address.
    ports.push_back(
        {{"IP", "0.0.0.0"}, {"PrivatePort", port}, {"PublicPort", 30000 + port}, {"Type", "tcp"}});
  }
  ports.push_back({{"PrivatePort", 53}, {"Type", "udp"}});
  return {
      {"Id", name + "-id"},
      {"Names", {"/" + name}},
      {"Labels", labels},
      {"Ports", ports},
      {"HostConfig", {{"NetworkMode", network_mode}}},
      {"NetworkSettings", {{"Networks", {{"bridge", {{"IPAddress", ip}, {"NetworkID", "n1"}}}}}}}};
}

NameTable sample() {
  nlohmann::json list = nlohmann::json::array();
  list.push_back(container("web1", "172.17.0.2", {80}));
  list.push_back(container("web2", "172.17.0.3", {80}));
  list.push_back(
      container("shop_api_1", "172.18.0.2", {8080},
                {{"com.docker.compose.service", "api"}, {"com.docker.compose.project", "shop"}}));
  list.push_back(
      container("shop_api_2", "172.18.0.3", {8080},
                {{"com.docker.compose.service", "api"}, {"com.docker.compose.project", "shop"}}));
  list.push_back(container("two", "172.17.0.4", {80, 443}));
  list.push_back(container("picked", "172.17.0.5", {80, 443}, {{"berth.http.port", "443"}}));
  list.push_back(container("bad", "172.17.0.6", {80}, {{"berth.http.port", "http"}}));
  list.push_back(container("quiet", "172.17.0.7", {}));
  list.push_back(container("hostnet", "", {}, {{"berth.http.port", "9000"}}, "host"));
  list.push_back(container("nonet", "", {80}, nlohmann::json::object(), "none"));
  list.push_back(nlohmann::json("not an object"));
  list.push_back({{"Id", "x"}, {"Names", nlohmann::json::array()}});
  return NameTable::fromList(list);
}

TEST(NameTableTest, FindsContainersByNameOnTheirOnlyTcpPort) {
  const NameTable table = sample();
  auto found = table.find("web1");
  ASSERT_EQ(found.outcome, NameTable::Outcome::Found);
  EXPECT_EQ(found.container->address, "172.17.0.2");
  EXPECT_EQ(found.port, 80);
  found = table.find("web2");
  ASSERT_EQ(found.outcome, NameTable::Outcome::Found);
  EXPECT_EQ(found.container->address, "172.17.0.3");
  EXPECT_EQ(table.find("web3").outcome, NameTable::Outcome::Unknown);
  EXPECT_EQ(table.find("").outcome, NameTable::Outcome::Unknown);
}

TEST(NameTableTest, ComposeServicesByServiceDotProjectFirstReplica) {
  const NameTable table = sample();
  auto found = table.find("api.shop");
  ASSERT_EQ(found.outcome, NameTable::Outcome::Found);
  EXPECT_EQ(found.container->name, "shop_api_1");
  EXPECT_EQ(found.port, 8080);
  EXPECT_EQ(table.find("shop_api_2").container->address, "172.18.0.3");
  EXPECT_EQ(table.find("api.other").outcome, NameTable::Outcome::Unknown);
}

TEST(NameTableTest, PortLabelAndWhyANameCannotBeServed) {
  const NameTable table = sample();
  auto two = table.find("two");
  EXPECT_EQ(two.outcome, NameTable::Outcome::SeveralPorts);
  EXPECT_EQ(two.container->ports, (std::vector<int>{80, 443}));
  auto picked = table.find("picked");
  EXPECT_EQ(picked.outcome, NameTable::Outcome::Found);
  EXPECT_EQ(picked.port, 443);
  EXPECT_EQ(table.find("bad").outcome, NameTable::Outcome::BadLabel);
  EXPECT_EQ(table.find("quiet").outcome, NameTable::Outcome::NoPort);
  auto host = table.find("hostnet");
  EXPECT_EQ(host.outcome, NameTable::Outcome::Found);
  EXPECT_EQ(host.container->address, "127.0.0.1");
  EXPECT_EQ(host.port, 9000);
  EXPECT_EQ(table.find("nonet").outcome, NameTable::Outcome::NoAddress);
}

TEST(NameTableTest, NamesAreListedOnceSortedAndMatchedInLowercase) {
  nlohmann::json list = nlohmann::json::array();
  list.push_back(container("Blog", "172.17.0.9", {80}));
  const NameTable upper = NameTable::fromList(list);
  EXPECT_EQ(upper.find("blog").outcome, NameTable::Outcome::Found);
  EXPECT_EQ(upper.names(), std::vector<std::string>{"blog"});

  const NameTable table = sample();
  const auto names = table.names();
  EXPECT_EQ(names.front(), "api.shop");
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  EXPECT_EQ(std::count(names.begin(), names.end(), "web1"), 1);
  EXPECT_EQ(table.size(), 10u);
  EXPECT_EQ(NameTable::fromList(nlohmann::json::object()).size(), 0u);
}

TEST(NameTableTest, StoppedWakeContainersAreAsleepUntilTheyRun) {
  nlohmann::json running = nlohmann::json::array();
  running.push_back(container("up", "172.17.0.2", {80}, {{"berth.wake", "true"}}));
  nlohmann::json sleepers = nlohmann::json::array();
  auto up = container("up", "", {}, {{"berth.wake", "true"}});
  up["State"] = "running";
  auto sleepy = container("sleepy", "", {}, {{"berth.wake", "true"}, {"berth.wake.timeout", "5s"}});
  sleepy["State"] = "exited";
  auto plain = container("plain", "", {}, {{"berth.wake", "false"}});
  plain["State"] = "exited";
  sleepers.push_back(up);
  sleepers.push_back(sleepy);
  sleepers.push_back(plain);
  const NameTable table = NameTable::fromList(running, sleepers);
  EXPECT_EQ(table.size(), 2u);
  EXPECT_EQ(table.find("up").outcome, NameTable::Outcome::Found);
  auto found = table.find("sleepy");
  ASSERT_EQ(found.outcome, NameTable::Outcome::Asleep);
  EXPECT_EQ(found.container->id, "sleepy-id");
  EXPECT_EQ(found.container->wake_timeout, std::chrono::seconds(5));
  EXPECT_EQ(table.find("plain").outcome, NameTable::Outcome::Unknown);
}

}  // namespace
}  // namespace berth::server
