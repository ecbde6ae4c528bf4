#include <gtest/gtest.h>

#include "api/Route.h"

namespace berth::api {
namespace {

TEST(RouteTest, StripsVersionPrefixAndQuery) {
  Route r = RouteMatcher::match("POST", "/v1.41/containers/create?name=web");
  EXPECT_EQ(r.kind, RouteKind::ContainerCreate);
  EXPECT_EQ(r.version, "1.41");
  EXPECT_EQ(r.path, "/containers/create");
  EXPECT_EQ(r.query, "name=web");
}

TEST(RouteTest, MatchesWithoutPrefix) {
  EXPECT_EQ(RouteMatcher::match("GET", "/_ping").kind, RouteKind::Ping);
  EXPECT_EQ(RouteMatcher::match("HEAD", "/_ping").kind, RouteKind::Ping);
  EXPECT_EQ(RouteMatcher::match("GET", "/containers/json?all=1").kind, RouteKind::ContainerList);
}

TEST(RouteTest, ExtractsIdAndHijackRoutes) {
  Route attach = RouteMatcher::match("POST", "/v1.43/containers/abc/attach?stream=1&stdin=1");
  EXPECT_EQ(attach.kind, RouteKind::ContainerAttach);
  EXPECT_EQ(attach.id, "abc");
  EXPECT_TRUE(attach.mayHijack());
  Route exec = RouteMatcher::match("POST", "/exec/e1/start");
  EXPECT_EQ(exec.kind, RouteKind::ExecStart);
  EXPECT_TRUE(exec.mayHijack());
  EXPECT_FALSE(RouteMatcher::match("GET", "/containers/abc/json").mayHijack());
}

TEST(RouteTest, StartAndRestartAreTheirOwnKinds) {
  Route restart = RouteMatcher::match("POST", "/v1.41/containers/web/restart?t=3");
  EXPECT_EQ(restart.kind, RouteKind::ContainerRestart);
  EXPECT_EQ(restart.id, "web");
  EXPECT_EQ(routeKindName(restart.kind), "container-restart");
  EXPECT_EQ(RouteMatcher::match("POST", "/containers/web/start").kind, RouteKind::ContainerStart);
  EXPECT_EQ(RouteMatcher::match("GET", "/containers/web/restart").kind, RouteKind::Other);
}

TEST(RouteTest, MethodMatters) {
  EXPECT_EQ(RouteMatcher::match("GET", "/containers/create").kind, RouteKind::Other);
  EXPECT_EQ(RouteMatcher::match("DELETE", "/containers/abc/json").kind, RouteKind::Other);
  EXPECT_TRUE(RouteMatcher::match("DELETE", "/containers/abc/json").id.empty());
}

TEST(RouteTest, MalformedVersionIsNotAPrefix) {
  Route r = RouteMatcher::match("GET", "/v1./containers/json");
  EXPECT_EQ(r.kind, RouteKind::Other);
  EXPECT_EQ(r.path, "/v1./containers/json");
  EXPECT_EQ(RouteMatcher::match("GET", "").path, "/");
}

}  // namespace
}  // namespace berth::api
