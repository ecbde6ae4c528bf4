#include <gtest/gtest.h>

#include "server/FdLimit.h"
#include "server/RequestLimits.h"

namespace berth::server {
namespace {

TEST(RequestLimitsTest, RequestLineAndHeaderCount) {
  RelayLimits limits;
  limits.max_request_line = 100;
  limits.max_header_count = 3;
  EXPECT_FALSE(RequestLimits::check(100, 3, limits));
  auto line = RequestLimits::check(101, 0, limits);
  ASSERT_TRUE(line);
  EXPECT_EQ(line->status, 414);
  EXPECT_NE(line->message.find("at most 100 bytes"), std::string::npos);
  auto count = RequestLimits::check(10, 4, limits);
  ASSERT_TRUE(count);
  EXPECT_EQ(count->status, 431);
  EXPECT_NE(count->message.find("at most 3"), std::string::npos);
}

TEST(FdLimitTest, CapFitsTheFdBudget) {
  EXPECT_EQ(FdLimit::connectionsFor(1024), (1024u - 128u) / 2);
  EXPECT_EQ(FdLimit::connectionsFor(10), 1u);
  EXPECT_GE(FdLimit::raise(), 1024u);  // Linux's default soft limit, raised to the hard one
}

}  // namespace
}  // namespace berth::server
