#include <gtest/gtest.h>

#include "server/dashboard/DashboardAccess.h"

namespace berth::server {
namespace {

using Verdict = DashboardAccess::Verdict;

const std::string kToken(64, 't');
const std::string kCsrf(64, 'c');
const std::string kCookie = "berth-dashboard-8123=" + kToken;

DashboardAccess access() { return DashboardAccess(kToken, kCsrf, 8123); }

DashboardAccess::Request get(std::string_view target, std::string_view cookie = kCookie) {
  return {"GET", target, "127.0.0.1:8123", cookie, "", ""};
}

DashboardAccess::Request post(std::string_view target, std::string_view csrf = kCsrf) {
  return {"POST", target, "127.0.0.1:8123", kCookie, csrf, "http://127.0.0.1:8123"};
}

TEST(DashboardAccessTest, OnlyLoopbackHostsWithTheRightPortAreServed) {
  auto request = get("/");
  EXPECT_EQ(access().check(request), Verdict::Allow);
  request.host = "localhost:8123";
  EXPECT_EQ(access().check(request), Verdict::Allow);
  // DNS rebinding: the attacker's name reaches us in the Host header, cookie or not.
  for (const char* host : {"evil.example:8123", "127.0.0.1", "127.0.0.1:8124", "localhost",
                           "127.0.0.1.evil.example:8123", "[::1]:8123", ""}) {
    request.host = host;
    EXPECT_EQ(access().check(request), Verdict::BadHost) << host;
  }
  auto with_token = get("/?token=" + kToken, "");
  with_token.host = "evil.example:8123";
  EXPECT_EQ(access().check(with_token), Verdict::BadHost);
}

TEST(DashboardAccessTest, WithoutTheCookieOnlyTheTokenIsAccepted) {
  EXPECT_EQ(access().check(get("/", "")), Verdict::Unauthorized);
  EXPECT_EQ(access().check(get("/api/status", "")), Verdict::Unauthorized);
  EXPECT_EQ(access().check(get("/app.js", "")), Verdict::Unauthorized);
  const std::string right = "/?token=" + kToken;
  EXPECT_EQ(access().check(get(right, "")), Verdict::ExchangeToken);
  const std::string wrong = "/?token=" + std::string(64, 'x');
  EXPECT_EQ(access().check(get(wrong, "")), Verdict::Unauthorized);
  const std::string prefix = "/?token=" + kToken.substr(0, 10);
  EXPECT_EQ(access().check(get(prefix, "")), Verdict::Unauthorized);
  EXPECT_EQ(access().check(get("/?token=", "")), Verdict::Unauthorized);
  // The token never authorises a change by itself.
  // Request holds views: the target must outlive it (ASan saw a temporary here).
  const std::string stop = "/api/do/guest/stop?token=" + kToken;
  auto change = post(stop);
  change.cookie = "";
  EXPECT_EQ(access().check(change), Verdict::Unauthorized);
}

TEST(DashboardAccessTest, TheCookieMustCarryTheTokenUnderThisPortsName) {
  EXPECT_EQ(access().check(get("/", "other=1; " + kCookie + "; more=2")), Verdict::Allow);
  EXPECT_EQ(access().check(get("/", "berth-dashboard-8123=" + std::string(64, 'x'))),
            Verdict::Unauthorized);
  // Cookies are shared by every port of 127.0.0.1: another profile's cookie is not ours.
  EXPECT_EQ(access().check(get("/", "berth-dashboard-9000=" + kToken)), Verdict::Unauthorized);
  EXPECT_EQ(access().check(get("/", "berth-dashboard-8123")), Verdict::Unauthorized);
}

TEST(DashboardAccessTest, ChangesNeedPostWithTheCsrfTokenFromTheSameOrigin) {
  EXPECT_EQ(access().check(post("/api/do/guest/stop")), Verdict::Allow);
  EXPECT_EQ(access().check(post("/api/do/containers/abc/stop")), Verdict::Allow);
  EXPECT_EQ(access().check(post("/api/do/guest/stop", "")), Verdict::Forbidden);
  EXPECT_EQ(access().check(post("/api/do/guest/stop", std::string(64, 'x'))), Verdict::Forbidden);
  // A cross-site form POST carries the cookie in older browsers, never the header.
  auto cross = post("/api/do/containers/abc/remove");
  cross.origin = "http://evil.example";
  EXPECT_EQ(access().check(cross), Verdict::Forbidden);
  cross.origin = "null";
  EXPECT_EQ(access().check(cross), Verdict::Forbidden);
  // A change is never a GET (an <img src> could make one), and a POST is only for changes.
  EXPECT_EQ(access().check(get("/api/do/guest/stop")), Verdict::Forbidden);
  EXPECT_EQ(access().check(post("/api/status")), Verdict::Forbidden);
  auto put = post("/api/do/guest/stop");
  put.method = "PUT";
  EXPECT_EQ(access().check(put), Verdict::BadMethod);
  put.method = "OPTIONS";  // no CORS preflight is ever answered
  EXPECT_EQ(access().check(put), Verdict::BadMethod);
}

TEST(DashboardAccessTest, TheCookieIsHttpOnlyStrictAndTheRedirectDropsTheToken) {
  const std::string cookie = access().setCookie();
  EXPECT_EQ(cookie, kCookie + "; HttpOnly; SameSite=Strict; Path=/");
  EXPECT_EQ(DashboardAccess::redirectTarget("/?token=abc"), "/");
  EXPECT_EQ(DashboardAccess::redirectTarget("/x?a=1&token=abc&b=2"), "/x?a=1&b=2");
  EXPECT_EQ(DashboardAccess::redirectTarget("/x"), "/x");
  EXPECT_EQ(queryParam("/api/logs?id=abc&tail=3", "id"), "abc");
  EXPECT_EQ(queryParam("/api/logs?xid=abc", "id"), "");
}

TEST(DashboardAccessTest, SecretsAreRandomHexAndShortOnesAreRefused) {
  const std::string a = DashboardAccess::randomSecret();
  const std::string b = DashboardAccess::randomSecret();
  EXPECT_EQ(a.size(), 64u);
  EXPECT_NE(a, b);
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_THROW(DashboardAccess("short", kCsrf, 1), std::invalid_argument);
}

}  // namespace
}  // namespace berth::server
