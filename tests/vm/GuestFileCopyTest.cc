#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>

#include "server/net/Files.h"
#include "vm/Driver.h"
#include "vm/GuestFileCopy.h"

namespace berth::vm {
namespace {

using namespace std::chrono_literals;

// The "guest" is this host: the words run here as given, as the profile's ssh runs them there.
std::vector<std::string> here(const std::vector<std::string>& words) { return words; }

class GuestFileCopyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/b-copy-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    host_ = dir_ + "/host-nerdctl";
    guest_ = dir_ + "/guest/usr/local/bin/nerdctl";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static mode_t mode(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? st.st_mode & 07777 : 0;
  }

  std::string dir_, host_, guest_;
};

TEST_F(GuestFileCopyTest, CopiesOnlyWhatDiffersAndAlways0755) {
  net::Files::writeAtomic(host_, "#!/bin/sh\necho one\n", 0600);
  EXPECT_EQ(GuestFileCopy::install(here, host_, guest_, 10s), GuestFileCopy::Outcome::Copied);
  EXPECT_EQ(net::Files::readOr(guest_), "#!/bin/sh\necho one\n");
  EXPECT_EQ(mode(guest_), 0755u);
  const auto copied_at = std::filesystem::last_write_time(guest_);
  // The same bytes again: nothing is sent, the file is the one copied before.
  EXPECT_EQ(GuestFileCopy::install(here, host_, guest_, 10s), GuestFileCopy::Outcome::Kept);
  EXPECT_EQ(std::filesystem::last_write_time(guest_), copied_at);
  // Same size, other bytes: copied again; no temporary file is left beside it.
  net::Files::writeAtomic(host_, "#!/bin/sh\necho two\n", 0600);
  EXPECT_EQ(GuestFileCopy::install(here, host_, guest_, 10s), GuestFileCopy::Outcome::Copied);
  EXPECT_EQ(net::Files::readOr(guest_), "#!/bin/sh\necho two\n");
  EXPECT_FALSE(std::filesystem::exists(guest_ + ".berth-new"));
  ::chmod(guest_.c_str(), 0600);  // a mode changed in the guest is put back, the bytes kept
  EXPECT_EQ(GuestFileCopy::install(here, host_, guest_, 10s), GuestFileCopy::Outcome::Kept);
  EXPECT_EQ(mode(guest_), 0755u);
  GuestFileCopy::remove(here, guest_, 10s);
  EXPECT_FALSE(std::filesystem::exists(guest_));
  GuestFileCopy::remove(here, guest_, 10s);  // already gone: fine
}

TEST_F(GuestFileCopyTest, FailuresSayWhatAndLeaveTheOldFile) {
  EXPECT_THROW(GuestFileCopy::install(here, dir_ + "/missing", guest_, 10s), DriverError);
  net::Files::writeAtomic(host_, "#!/bin/sh\necho new\n", 0600);
  net::Files::writeAtomic(dir_ + "/old", "#!/bin/sh\necho old\n", 0755);
  // A transfer cut short (the guest gets 4 bytes of it): the SHA-256 check refuses the copy and
  // the old file stays.
  const auto cut_short = [](const std::vector<std::string>& words) {
    std::vector<std::string> argv = {"sh", "-c", "head -c 4 | \"$@\"", "sh"};
    argv.insert(argv.end(), words.begin(), words.end());
    return argv;
  };
  try {
    GuestFileCopy::install(cut_short, host_, dir_ + "/old", 10s);
    FAIL() << "a truncated copy was taken";
  } catch (const DriverError& e) {
    EXPECT_NE(std::string(e.what()).find("SHA-256 differs"), std::string::npos) << e.what();
  }
  EXPECT_EQ(net::Files::readOr(dir_ + "/old"), "#!/bin/sh\necho old\n");
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/old.berth-new"));
  // A guest path that cannot be made (its folder is a file): the guest's own error.
  try {
    GuestFileCopy::install(here, host_, dir_ + "/old/nerdctl", 10s);
    FAIL() << "a copy into a file's path was taken";
  } catch (const DriverError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot copy " + host_), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("mkdir"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace berth::vm
