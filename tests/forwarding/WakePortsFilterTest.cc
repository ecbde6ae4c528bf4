#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "api/Route.h"
#include "forwarding/WakePortsFilter.h"

namespace berth::fwd {
namespace {

using nlohmann::json;

// Hands out 40000, 40001, ... and records the protocols asked for.
struct FakePicker {
  std::uint16_t next = 40000;
  std::vector<std::string> protos;
  PortPicker picker() {
    return [this](const std::string& proto) {
      protos.push_back(proto);
      return next++;
    };
  }
};

std::string create(const json& labels, const json& exposed, const json& host_config) {
  json body = {{"Image", "bb"}, {"HostConfig", host_config}};
  if (!labels.is_null()) body["Labels"] = labels;
  if (!exposed.is_null()) body["ExposedPorts"] = exposed;
  return body.dump();
}

json bindingsOf(const std::string& body) { return json::parse(body)["HostConfig"]["PortBindings"]; }

TEST(WakePortsFilterTest, FillsEmptyHostPortsOfAWakeContainer) {
  FakePicker fake;
  WakePortsFilter filter(fake.picker());
  auto body = create({{"berth.wake", "true"}}, {{"80/tcp", json::object()}},
                     {{"PortBindings",
                       {{"80/tcp", {{{"HostIp", ""}, {"HostPort", ""}}}},
                        {"53/udp", {{{"HostIp", "127.0.0.1"}}}},
                        {"443/tcp", {{{"HostIp", ""}, {"HostPort", "8443"}}}}}}});
  EXPECT_FALSE(filter.onRequestBody(body));
  const auto bindings = bindingsOf(body);
  // The body's keys come sorted (nlohmann::json), and the filter fills them in that order.
  EXPECT_EQ(bindings["53/udp"][0]["HostPort"], "40000");
  EXPECT_EQ(bindings["80/tcp"][0]["HostPort"], "40001");
  EXPECT_EQ(bindings["53/udp"][0]["HostIp"], "127.0.0.1");
  EXPECT_EQ(bindings["443/tcp"][0]["HostPort"], "8443");  // a fixed port stays
  EXPECT_EQ(fake.protos, (std::vector<std::string>{"udp", "tcp"}));
}

TEST(WakePortsFilterTest, PublishAllBindsEveryExposedPortOfTheBody) {
  FakePicker fake;
  WakePortsFilter filter(fake.picker());
  auto body = create({{"berth.wake", "TRUE"}}, {{"80/tcp", json::object()}, {"81", json::object()}},
                     {{"PublishAllPorts", true},
                      {"PortBindings", {{"80/tcp", {{{"HostIp", ""}, {"HostPort", "8080"}}}}}}});
  EXPECT_FALSE(filter.onRequestBody(body));
  const auto bindings = bindingsOf(body);
  EXPECT_EQ(bindings["80/tcp"][0]["HostPort"], "8080");
  EXPECT_EQ(bindings["81"][0]["HostPort"], "40000");
  EXPECT_EQ(fake.protos, (std::vector<std::string>{"tcp"}));
}

TEST(WakePortsFilterTest, OtherContainersAndBodiesPassUntouched) {
  FakePicker fake;
  WakePortsFilter filter(fake.picker());
  const json empty_port = {{"PortBindings", {{"80/tcp", {{{"HostIp", ""}, {"HostPort", ""}}}}}}};
  for (auto body : {create(json::object(), nullptr, empty_port),
                    create({{"berth.wake", "false"}}, nullptr, empty_port),
                    create({{"berth.wake", "maybe"}}, nullptr, empty_port),
                    create({{"berth.wake", "true"}}, nullptr, nullptr),
                    std::string("{\"Labels\":{\"berth.wake\":\"true\"}"),  // not JSON
                    create({{"berth.wake", "true"}}, {{"80/tcp", json::object()}},
                           {{"PublishAllPorts", false}})}) {
    const auto sent = body;
    EXPECT_FALSE(filter.onRequestBody(body));
    EXPECT_EQ(body, sent);
  }
  EXPECT_TRUE(fake.protos.empty());
}

TEST(WakePortsFilterTest, PicksDistinctPortsAndSaysWhenThereAreNone) {
  WakePortsFilter same([](const std::string&) { return std::uint16_t{40000}; });
  auto body = create(
      {{"berth.wake", "true"}}, nullptr,
      {{"PortBindings", {{"80/tcp", {{{"HostPort", ""}}}}, {"81/tcp", {{{"HostPort", ""}}}}}}});
  auto reply = same.onRequestBody(body);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 500);
  EXPECT_NE(reply->message.find("no free host port for 81/tcp"), std::string::npos);

  WakePortsFilter none([](const std::string&) { return std::uint16_t{0}; });
  EXPECT_TRUE(none.onRequestBody(body));
}

TEST(WakePortsFilterTest, TheFactoryServesContainerCreateOnly) {
  WakePortsFilterFactory factory([](const std::string&) { return std::uint16_t{40000}; });
  const auto create_route = api::RouteMatcher::match("POST", "/v1.41/containers/create?name=x");
  const auto start_route = api::RouteMatcher::match("POST", "/v1.41/containers/x/start");
  EXPECT_TRUE(factory.create({"POST", "/v1.41/containers/create?name=x", create_route}));
  EXPECT_FALSE(factory.create({"POST", "/v1.41/containers/x/start", start_route}));
}

TEST(WakePortsFilterTest, TheLoopbackPickerGivesAPortFreeOnBothLoopbacks) {
  for (const std::string proto : {"tcp", "udp"}) {
    const auto port = WakePortsFilter::pickLoopbackPort(proto);
    ASSERT_NE(port, 0) << proto;
    EXPECT_GE(port, 1024) << proto;
  }
}

}  // namespace
}  // namespace berth::fwd
