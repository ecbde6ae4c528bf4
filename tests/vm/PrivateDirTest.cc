#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "vm/PrivateDir.h"

namespace berth::vm {
namespace {

class PrivateDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/b-sec-pd-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  std::string dir(const std::string& name, mode_t mode) {
    std::string p = root_ + "/" + name;
    EXPECT_EQ(::mkdir(p.c_str(), 0700), 0);
    EXPECT_EQ(::chmod(p.c_str(), mode), 0);
    return p;
  }

  // The message of the runtime_error `f` throws, or "" when it does not throw.
  template <class F>
  static std::string errorOf(F f) {
    try {
      f();
    } catch (const std::runtime_error& e) {
      return e.what();
    }
    return "";
  }

  std::string root_;
};

TEST_F(PrivateDirTest, EnsureCreatesMissingDirsPrivate) {
  std::string p = root_ + "/home/profile";
  PrivateDir::ensure(p);
  struct stat st {};
  ASSERT_EQ(::stat(p.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  ASSERT_EQ(::stat((root_ + "/home").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  PrivateDir::ensure(p);  // idempotent
}

TEST_F(PrivateDirTest, AcceptsPrivateAndReadableDirs) {
  EXPECT_EQ(errorOf([&] { PrivateDir::check(dir("a", 0700)); }), "");
  EXPECT_EQ(errorOf([&] { PrivateDir::check(dir("b", 0755)); }), "");
}

TEST_F(PrivateDirTest, RefusesDirsOthersCanWrite) {
  std::string p = dir("open", 0777);
  std::string e = errorOf([&] { PrivateDir::check(p); });
  EXPECT_NE(e.find("writable by other users (mode 0777)"), std::string::npos) << e;
  EXPECT_NE(e.find("chmod 700 " + p), std::string::npos) << e;
  EXPECT_NE(errorOf([&] { PrivateDir::check(dir("group", 0770)); }), "");
  // ensure() refuses too, and leaves the mode as the user set it.
  EXPECT_NE(errorOf([&] { PrivateDir::ensure(p); }), "");
  struct stat st {};
  ::stat(p.c_str(), &st);
  EXPECT_EQ(st.st_mode & 07777, 0777u);
}

TEST_F(PrivateDirTest, RefusesSymlinksFilesAndOtherOwners) {
  std::string target = dir("target", 0700);
  std::string link = root_ + "/link";
  ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);
  EXPECT_NE(errorOf([&] { PrivateDir::check(link); }).find("symlink"), std::string::npos);
  std::ofstream(root_ + "/file") << "x";
  EXPECT_NE(errorOf([&] { PrivateDir::check(root_ + "/file"); }).find("not a directory"),
            std::string::npos);
  std::string theirs = dir("theirs", 0700);
  ASSERT_EQ(::chown(theirs.c_str(), 65534, 65534), 0);  // tests run as root
  EXPECT_NE(errorOf([&] { PrivateDir::check(theirs); }).find("owned by uid 65534"),
            std::string::npos);
}

TEST_F(PrivateDirTest, RefusesAnUnsafeAncestor) {
  std::string parent = dir("shared", 0777);
  std::string p = parent + "/profile";
  ASSERT_EQ(::mkdir(p.c_str(), 0700), 0);
  std::string e = errorOf([&] { PrivateDir::check(p); });
  EXPECT_NE(e.find(parent + " is writable by other users"), std::string::npos) << e;
  // The sticky bit (like /tmp) makes a shared parent safe: others cannot rename our entry.
  ASSERT_EQ(::chmod(parent.c_str(), 01777), 0);
  EXPECT_EQ(errorOf([&] { PrivateDir::check(p); }), "");
}

TEST_F(PrivateDirTest, SocketDirRule) {
  EXPECT_EQ(errorOf([] { PrivateDir::checkSocketDir("/tmp"); }), "");
  EXPECT_EQ(errorOf([&] { PrivateDir::checkSocketDir(dir("s", 0755)); }), "");
  EXPECT_NE(errorOf([&] { PrivateDir::checkSocketDir(dir("w", 0777)); }), "");
}

}  // namespace
}  // namespace berth::vm
