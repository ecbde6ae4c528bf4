#include <gtest/gtest.h>

#include "vm/MountFlag.h"

namespace berth::vm {
namespace {

std::string errorOf(std::string_view flag, std::string_view home = {}) {
  try {
    MountFlag::parse(flag, home);
  } catch (const MountFlagError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(MountFlagTest, HostOnlyIsReadOnlyAtTheSamePath) {
  Share s = MountFlag::parse("/home/me/src");
  EXPECT_EQ(s.location, "/home/me/src");
  EXPECT_EQ(s.mount_point, "/home/me/src");
  EXPECT_FALSE(s.writable);
}

TEST(MountFlagTest, TrailingWMakesWritable) {
  Share s = MountFlag::parse("/home/me/src:w");
  EXPECT_EQ(s.location, "/home/me/src");
  EXPECT_EQ(s.mount_point, "/home/me/src");
  EXPECT_TRUE(s.writable);
}

TEST(MountFlagTest, ExplicitGuestPath) {
  Share ro = MountFlag::parse("/home/me/src:/mnt/src");
  EXPECT_EQ(ro.location, "/home/me/src");
  EXPECT_EQ(ro.mount_point, "/mnt/src");
  EXPECT_FALSE(ro.writable);
  Share rw = MountFlag::parse("/home/me/src:/mnt/src:w");
  EXPECT_EQ(rw.mount_point, "/mnt/src");
  EXPECT_TRUE(rw.writable);
}

TEST(MountFlagTest, NormalisesBothPaths) {
  Share s = MountFlag::parse("/home//me/./src/../lib/:/mnt//lib/:w");
  EXPECT_EQ(s.location, "/home/me/lib");
  EXPECT_EQ(s.mount_point, "/mnt/lib");
  EXPECT_EQ(MountFlag::parse("/a/b/").mount_point, "/a/b");
}

TEST(MountFlagTest, ExpandsTildeWithHome) {
  Share s = MountFlag::parse("~/src:w", "/home/me");
  EXPECT_EQ(s.location, "/home/me/src");
  EXPECT_EQ(s.mount_point, "/home/me/src");
  EXPECT_EQ(MountFlag::parse("~", "/home/me").location, "/home/me");
  EXPECT_NE(errorOf("~/src").find("cannot expand '~'"), std::string::npos);
}

TEST(MountFlagTest, RefusesRelativeHostPaths) {
  std::string e = errorOf("data:/data");
  EXPECT_NE(e.find("--mount 'data:/data'"), std::string::npos) << e;
  EXPECT_NE(e.find("relative"), std::string::npos) << e;
  EXPECT_NE(errorOf("./data").find("relative"), std::string::npos);
  EXPECT_NE(errorOf("../x:w").find("relative"), std::string::npos);
  EXPECT_NE(errorOf("~bob/x", "/home/me").find("relative"), std::string::npos);
}

TEST(MountFlagTest, RefusesWindowsPaths) {
  for (const char* flag :
       {"C:\\Users\\me", "C:/Users/me:/mnt/me", "c:", "\\\\server\\share", "/home/me\\src"}) {
    std::string e = errorOf(flag);
    EXPECT_NE(e.find("Windows-style"), std::string::npos) << flag << ": " << e;
  }
}

TEST(MountFlagTest, RefusesBadGuestPathsAndModes) {
  EXPECT_NE(errorOf("/a:rel").find("guest path 'rel' must be absolute"), std::string::npos);
  EXPECT_NE(errorOf("/a:ro").find("unknown mode 'ro'"), std::string::npos);
  EXPECT_NE(errorOf("/a:/b:ro").find("unknown mode 'ro'"), std::string::npos);
  EXPECT_NE(errorOf("/a:/b:/c").find("too many ':'"), std::string::npos);
  EXPECT_NE(errorOf("/a::w").find("guest path is empty"), std::string::npos);
  EXPECT_NE(errorOf(":/b").find("host path is empty"), std::string::npos);
  EXPECT_NE(errorOf("").find("empty value"), std::string::npos);
  EXPECT_NE(errorOf("/").find("cannot be '/'"), std::string::npos);
  EXPECT_NE(errorOf("/a:/").find("cannot be '/'"), std::string::npos);
  EXPECT_EQ(MountFlag::parse("/:/host").location, "/");
}

TEST(MountFlagTest, ParseAllRefusesDuplicates) {
  auto shares = MountFlag::parseAll({"/a:w", "/b:/g"});
  ASSERT_EQ(shares.size(), 2u);
  EXPECT_TRUE(shares[0].writable);
  EXPECT_EQ(shares[1].mount_point, "/g");
  try {
    MountFlag::parseAll({"/a", "/a/:/other"});
    FAIL() << "duplicate host folder accepted";
  } catch (const MountFlagError& e) {
    EXPECT_NE(std::string(e.what()).find("already shared by --mount '/a'"), std::string::npos);
  }
  EXPECT_THROW(MountFlag::parseAll({"/a:/g", "/b:/g/"}), MountFlagError);
}

TEST(MountFlagTest, FormatIsTheInverseOfParse) {
  for (const char* flag : {"/a", "/a:w", "/a:/g", "/a:/g:w"}) {
    EXPECT_EQ(MountFlag::format(MountFlag::parse(flag)), flag);
  }
}

}  // namespace
}  // namespace berth::vm
