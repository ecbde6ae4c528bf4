#include <gtest/gtest.h>

#include "api/Numbers.h"

namespace berth::api {
namespace {

TEST(NumbersTest, TheWholeTextMustBeTheNumber) {
  EXPECT_EQ(parseWhole<unsigned>("42"), 42u);
  EXPECT_EQ(parseWhole<unsigned>("0"), 0u);
  for (const char* bad : {"", " 42", "42 ", "42x", "+42", "-1", "4 2", "0x10"})
    EXPECT_EQ(parseWhole<unsigned>(bad), std::nullopt) << "'" << bad << "'";
  EXPECT_EQ(parseWhole<std::uint16_t>("65536"), std::nullopt);  // out of range, not wrapped
  EXPECT_EQ(parseWhole<std::uint64_t>("18446744073709551615"), UINT64_MAX);
  EXPECT_EQ(parseWhole<unsigned>("ff", 16), 255u);
}

TEST(NumbersTest, PortsAreOneTo65535) {
  EXPECT_EQ(parsePort("1"), 1);
  EXPECT_EQ(parsePort("65535"), 65535);
  for (const char* bad : {"0", "65536", "99999999999", "80/tcp", "", "-80"})
    EXPECT_EQ(parsePort(bad), std::nullopt) << "'" << bad << "'";
}

}  // namespace
}  // namespace berth::api
