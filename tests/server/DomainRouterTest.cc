#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include "server/domains/DomainRouter.h"

namespace berth::server {
namespace {

nlohmann::json list() {
  auto item = [](const std::string& name, nlohmann::json ports, nlohmann::json labels) {
    return nlohmann::json{
        {"Id", name},
        {"Names", {"/" + name}},
        {"Labels", labels},
        {"Ports", ports},
        {"NetworkSettings", {{"Networks", {{"bridge", {{"IPAddress", "172.17.0.2"}}}}}}}};
  };
  return {
      item("web", {{{"PrivatePort", 80}, {"Type", "tcp"}}}, nlohmann::json::object()),
      item("two", {{{"PrivatePort", 80}, {"Type", "tcp"}}, {{"PrivatePort", 81}, {"Type", "tcp"}}},
           nlohmann::json::object())};
}

DomainRouter router() {
  return DomainRouter("dev", [](const std::string& profile) -> std::uint16_t {
    return profile == "other" ? 41000 : 0;
  });
}

int statusOf(const std::string& reply) { return std::stoi(reply.substr(9, 3)); }

TEST(DomainRouterTest, RoutesANameToItsContainerOnceTheGuestIsUp) {
  DomainRouter r = router();
  auto down = r.route("web.dev.berth.localhost");
  EXPECT_EQ(statusOf(down.reply), 503);
  EXPECT_NE(down.reply.find("berth start dev"), std::string::npos);

  r.guestUp(nullptr);
  r.setContainers(list());
  auto route = r.route("WEB.dev.berth.localhost:8080");
  EXPECT_EQ(route.reply, "");
  EXPECT_EQ(route.target.address().to_string(), "172.17.0.2");
  EXPECT_EQ(route.target.port(), 80);
  EXPECT_EQ(route.describe, "web (172.17.0.2:80)");

  r.guestDown("stopped");
  EXPECT_EQ(statusOf(r.route("web.dev.berth.localhost").reply), 503);
  EXPECT_EQ(r.status()["guest"], "stopped");
}

TEST(DomainRouterTest, UnknownNamesAndSeveralPortsGetPagesThatSayWhatToDo) {
  DomainRouter r = router();
  r.guestUp(nullptr);
  r.setContainers(list());
  const auto unknown = r.route("nope.dev.berth.localhost").reply;
  EXPECT_EQ(statusOf(unknown), 404);
  EXPECT_NE(unknown.find("&lt;container&gt;.dev.berth.localhost"), std::string::npos);
  EXPECT_NE(unknown.find("http://web.dev.berth.localhost/"), std::string::npos);
  EXPECT_NE(unknown.find("Content-Type: text/html"), std::string::npos);
  const auto several = r.route("two.dev.berth.localhost").reply;
  EXPECT_EQ(statusOf(several), 502);
  EXPECT_NE(several.find("berth.http.port=PORT"), std::string::npos);
  EXPECT_NE(several.find("(80, 81)"), std::string::npos);
  EXPECT_EQ(statusOf(r.route("example.com").reply), 404);
  // Content-Length matches the body.
  const auto split = unknown.find("\r\n\r\n");
  const auto length_at = unknown.find("Content-Length: ") + 16;
  EXPECT_EQ(std::stoul(unknown.substr(length_at)), unknown.size() - split - 4);
}

TEST(DomainRouterTest, OtherProfilesGoToTheirOwnFront) {
  DomainRouter r = router();  // guest down: other profiles are still served
  auto route = r.route("web.other.berth.localhost");
  EXPECT_EQ(route.reply, "");
  EXPECT_TRUE(route.other_profile);
  EXPECT_EQ(route.target.address().to_string(), "127.0.0.1");
  EXPECT_EQ(route.target.port(), 41000);
  EXPECT_EQ(route.netns, nullptr);
  EXPECT_EQ(statusOf(r.route("web.gone.berth.localhost").reply), 503);
}

// A guest stopped for now (idle stop) is booted by a request for one of its names, which then
// waits for the engine's first list; a boot that fails gets the 503 page saying why, and a
// guest that is down for good (berth stop) is not booted.
TEST(DomainRouterTest, AGuestDownForNowIsBootedAndTheRequestWaitsForTheList) {
  boost::asio::io_context io;
  int boots = 0;
  std::string boot_error;
  std::shared_ptr<DomainRouter> r;
  r = std::make_shared<DomainRouter>("dev", nullptr,
                                     [&](const std::function<void(const std::string&)>& done) {
                                       ++boots;
                                       if (boot_error.empty())
                                         r->guestUp(nullptr);  // what the daemon's onGuestUp does
                                       done(boot_error);
                                     });
  std::vector<DomainRouter::Route> routes;
  auto ask = [&](const std::string& host) {
    r->routeWhenReady(host, io.get_executor(),
                      [&](DomainRouter::Route route) { routes.push_back(std::move(route)); });
    io.restart();
    io.poll();
  };

  r->guestDown("stopped");  // for good: no boot
  ask("web.dev.berth.localhost");
  ASSERT_EQ(routes.size(), 1u);
  EXPECT_EQ(statusOf(routes[0].reply), 503);
  EXPECT_EQ(boots, 0);

  r->guestDown("stopped for now", /*for_now=*/true);
  ask("web.dev.berth.localhost");
  EXPECT_EQ(boots, 1);
  EXPECT_EQ(routes.size(), 1u) << "answered before the engine listed its containers";
  r->setContainers(list(), nlohmann::json::array(), /*complete=*/false);
  io.poll();
  EXPECT_EQ(routes.size(), 1u) << "answered before the berth.wake list";
  r->setContainers(list());
  io.restart();
  io.poll();
  ASSERT_EQ(routes.size(), 2u);
  EXPECT_EQ(routes[1].reply, "");
  EXPECT_EQ(routes[1].target.port(), 80);
  EXPECT_EQ(routes[1].container, "web");

  r->guestDown("stopped for now", true);
  boot_error = "the fake guest would not start";
  ask("web.dev.berth.localhost");
  ASSERT_EQ(routes.size(), 3u);
  EXPECT_EQ(statusOf(routes[2].reply), 503);
  EXPECT_NE(routes[2].reply.find("the fake guest would not start"), std::string::npos);
  EXPECT_EQ(boots, 2);
}

TEST(DomainRouterTest, AStopWhileARequestWaitsForTheListAnswersIt) {
  boost::asio::io_context io;
  auto r = std::make_shared<DomainRouter>("dev", nullptr);
  r->guestUp(nullptr);
  std::vector<DomainRouter::Route> routes;
  r->routeWhenReady("web.dev.berth.localhost", io.get_executor(),
                    [&](DomainRouter::Route route) { routes.push_back(std::move(route)); });
  io.poll();
  EXPECT_TRUE(routes.empty());
  r->guestDown("stopping");
  io.restart();
  io.poll();
  ASSERT_EQ(routes.size(), 1u);
  EXPECT_EQ(statusOf(routes[0].reply), 503);
  EXPECT_NE(routes[0].reply.find("stopping"), std::string::npos);
}

}  // namespace
}  // namespace berth::server
