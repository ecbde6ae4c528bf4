#include <gtest/gtest.h>

#include "server/domains/DomainName.h"

namespace berth::server {
namespace {

TEST(DomainNameTest, SplitsTheProfileFromTheName) {
  auto name = DomainName::parse("web.default.berth.localhost");
  ASSERT_TRUE(name);
  EXPECT_EQ(name->name, "web");
  EXPECT_EQ(name->profile, "default");

  name = DomainName::parse("Web.Shop.Dev.BERTH.localhost.:8080");  // case, port, final dot
  ASSERT_TRUE(name);
  EXPECT_EQ(name->name, "web.shop");
  EXPECT_EQ(name->profile, "dev");

  name = DomainName::parse("default.berth.localhost");
  ASSERT_TRUE(name);
  EXPECT_EQ(name->name, "");
  EXPECT_EQ(name->profile, "default");
}

TEST(DomainNameTest, RefusesHostsOutsideTheDomain) {
  for (const char* host : {"", "localhost", "berth.localhost", ".berth.localhost",
                           "web.default.berth.localhost.evil", "127.0.0.1:80", "[::1]:80",
                           "web.default.notberth.localhost", "web.defaultberth.localhost"}) {
    EXPECT_FALSE(DomainName::parse(host)) << host;
  }
}

TEST(DomainNameTest, HostForIsTheInverse) {
  EXPECT_EQ(DomainName::hostFor("web", "default"), "web.default.berth.localhost");
  EXPECT_EQ(DomainName::hostFor("", "dev"), "dev.berth.localhost");
  auto back = DomainName::parse(DomainName::hostFor("api.shop", "dev"));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->name, "api.shop");
  EXPECT_EQ(back->profile, "dev");
}

}  // namespace
}  // namespace berth::server
