#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "api/PublishedPorts.h"

namespace berth::api {
namespace {

// Shapes as dockerd 20.10 writes them (trimmed to the fields read).
const char* const kInspect = R"({
  "Id": "abc123", "Name": "/web", "State": {"Running": true},
  "NetworkSettings": {"Ports": {
    "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "18080"}, {"HostIp": "::", "HostPort": "18080"}],
    "53/udp": [{"HostIp": "127.0.0.1", "HostPort": "18053"}],
    "443/tcp": null,
    "9/sctp": [{"HostIp": "0.0.0.0", "HostPort": "18009"}],
    "bad/tcp": [{"HostIp": "0.0.0.0", "HostPort": "1"}],
    "81/tcp": [{"HostIp": "0.0.0.0", "HostPort": ""}, {"HostIp": "0.0.0.0", "HostPort": "70000"}]
  }}})";

TEST(PublishedPortsTest, InspectYieldsEveryBindingOfRelayableProtocols) {
  auto ports = publishedPortsFromInspect(nlohmann::json::parse(kInspect));
  ASSERT_EQ(ports.size(), 3u);
  EXPECT_EQ(ports[0], (PublishedPort{"udp", "127.0.0.1", 18053, 53, "abc123", "web"}));
  EXPECT_EQ(ports[1], (PublishedPort{"tcp", "0.0.0.0", 18080, 80, "abc123", "web"}));
  EXPECT_EQ(ports[2], (PublishedPort{"tcp", "::", 18080, 80, "abc123", "web"}));
}

TEST(PublishedPortsTest, StoppedContainerPublishesNothing) {
  auto inspect = nlohmann::json::parse(kInspect);
  inspect["State"]["Running"] = false;
  EXPECT_TRUE(publishedPortsFromInspect(inspect).empty());
  EXPECT_TRUE(publishedPortsFromInspect(nlohmann::json::array()).empty());
  EXPECT_TRUE(
      publishedPortsFromInspect(nlohmann::json::parse(R"({"State":{"Running":true}})")).empty());
}

// Before a start only HostConfig.PortBindings says which host ports a container will take:
// fixed ports count, engine-chosen ones (empty HostPort, ranges) are unknown yet.
TEST(PublishedPortsTest, RequestedPortsAreTheFixedBindings) {
  auto inspect = nlohmann::json::parse(R"({
    "Id": "abc123", "Name": "/web", "State": {"Running": false},
    "HostConfig": {"NetworkMode": "default", "PortBindings": {
      "80/tcp": [{"HostIp": "", "HostPort": "8080"}],
      "53/udp": [{"HostIp": "127.0.0.1", "HostPort": "8053"}],
      "81/tcp": [{"HostIp": "", "HostPort": ""}],
      "82/tcp": [{"HostIp": "", "HostPort": "9000-9010"}],
      "9/sctp": [{"HostIp": "", "HostPort": "9009"}]}},
    "NetworkSettings": {"Ports": {}}})");
  auto ports = requestedPortsFromInspect(inspect);
  ASSERT_EQ(ports.size(), 2u);
  EXPECT_EQ(ports[0], (PublishedPort{"udp", "127.0.0.1", 8053, 53, "abc123", "web"}));
  EXPECT_EQ(ports[1], (PublishedPort{"tcp", "", 8080, 80, "abc123", "web"}));
  inspect["HostConfig"]["NetworkMode"] = "host";  // the engine ignores -p there
  EXPECT_TRUE(requestedPortsFromInspect(inspect).empty());
  EXPECT_TRUE(requestedPortsFromInspect(nlohmann::json::parse(R"({"Id": "x"})")).empty());
  EXPECT_TRUE(requestedPortsFromInspect(nlohmann::json::parse("[]")).empty());
}

TEST(PublishedPortsTest, ListYieldsPublicPortsOfRunningContainers) {
  auto list = nlohmann::json::parse(R"([
    {"Id": "c1", "Names": ["/one"], "State": "running", "Ports": [
      {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 32768, "Type": "tcp"},
      {"IP": "::", "PrivatePort": 80, "PublicPort": 32768, "Type": "tcp"},
      {"PrivatePort": 443, "Type": "tcp"},
      {"IP": "0.0.0.0", "PrivatePort": 53, "PublicPort": 18053, "Type": "udp"}]},
    {"Id": "c2", "Names": ["/two"], "State": "exited", "Ports": [
      {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 18080, "Type": "tcp"}]},
    {"Id": "c3", "Names": ["/three"], "State": "running", "Ports": [
      {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": -1, "Type": "tcp"},
      {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 18090, "Type": "sctp"}]},
    "junk"
  ])");
  auto ports = publishedPortsFromList(list);
  ASSERT_EQ(ports.size(), 3u);
  EXPECT_EQ(ports[0], (PublishedPort{"tcp", "0.0.0.0", 32768, 80, "c1", "one"}));
  EXPECT_EQ(ports[1], (PublishedPort{"tcp", "::", 32768, 80, "c1", "one"}));
  EXPECT_EQ(ports[2], (PublishedPort{"udp", "0.0.0.0", 18053, 53, "c1", "one"}));
  EXPECT_TRUE(publishedPortsFromList(nlohmann::json::object()).empty());
}

}  // namespace
}  // namespace berth::api
