#include <gtest/gtest.h>

#include "vm/GuestPackageUpdate.h"

namespace berth::vm {
namespace {

// As bookworm's apt 2.6 prints it with LC_ALL=C: a newer candidate from a local repository.
TEST(GuestPackageUpdateTest, PolicyGivesInstalledAndCandidate) {
  const std::string out =
      "docker.io:\n"
      "  Installed: 20.10.24+dfsg1-1+deb12u1+b6\n"
      "  Candidate: 20.10.24+dfsg1-1+deb12u1+b6+berth1\n"
      "  Version table:\n"
      "     20.10.24+dfsg1-1+deb12u1+b6+berth1 500\n"
      "        500 file:/srv/repo ./ Packages\n"
      " *** 20.10.24+dfsg1-1+deb12u1+b6 500\n"
      "        500 http://deb.debian.org/debian bookworm/main amd64 Packages\n"
      "        100 /var/lib/dpkg/status\n";
  const PackageVersions v = GuestPackageUpdate::parsePolicy("docker.io", out);
  EXPECT_EQ(v.installed, "20.10.24+dfsg1-1+deb12u1+b6");
  EXPECT_EQ(v.candidate, "20.10.24+dfsg1-1+deb12u1+b6+berth1");
  EXPECT_FALSE(v.upToDate());
}

TEST(GuestPackageUpdateTest, PolicyOfTheNewestIsUpToDate) {
  const PackageVersions v = GuestPackageUpdate::parsePolicy(
      "containerd",
      "containerd:\n  Installed: 1.6.20~ds1-1+deb12u3\n  Candidate: 1.6.20~ds1-1+deb12u3\n"
      "  Version table:\n *** 1.6.20~ds1-1+deb12u3 500\n");
  EXPECT_EQ(v.installed, "1.6.20~ds1-1+deb12u3");
  EXPECT_TRUE(v.upToDate());
}

// "(none)": not installed, or offered by no source; neither is "up to date".
TEST(GuestPackageUpdateTest, PolicyNoneReadsAsEmpty) {
  const PackageVersions missing = GuestPackageUpdate::parsePolicy(
      "docker.io", "docker.io:\n  Installed: (none)\n  Candidate: 20.10.24+dfsg1-1\n");
  EXPECT_EQ(missing.installed, "");
  EXPECT_EQ(missing.candidate, "20.10.24+dfsg1-1");
  EXPECT_FALSE(missing.upToDate());
  const PackageVersions unoffered = GuestPackageUpdate::parsePolicy(
      "docker.io", "docker.io:\n  Installed: (none)\n  Candidate: (none)\n");
  EXPECT_EQ(unoffered.candidate, "");
  EXPECT_FALSE(unoffered.upToDate());
}

// apt-cache policy prints nothing but a notice for a name no source knows, and another
// package's block is not this one's.
TEST(GuestPackageUpdateTest, PolicyWithoutThePackageIsAnError) {
  EXPECT_THROW(GuestPackageUpdate::parsePolicy("docker.io", "N: Unable to locate package x\n"),
               DriverError);
  EXPECT_THROW(GuestPackageUpdate::parsePolicy("docker.io",
                                               "containerd:\n  Installed: 1.6\n  Candidate: 1.6\n"),
               DriverError);
  EXPECT_THROW(GuestPackageUpdate::parsePolicy("docker.io", "docker.io:\n  Installed: 1.6\n"),
               DriverError);
}

// What the program reports is the upstream part: no epoch, no Debian revision.
TEST(GuestPackageUpdateTest, UpstreamVersionDropsEpochAndRevision) {
  EXPECT_EQ(GuestPackageUpdate::upstreamVersion("20.10.24+dfsg1-1+deb12u1+b6"), "20.10.24+dfsg1");
  EXPECT_EQ(GuestPackageUpdate::upstreamVersion("1:1.6.20~ds1-1"), "1.6.20~ds1");
  EXPECT_EQ(GuestPackageUpdate::upstreamVersion("2.5-rc1-3"), "2.5-rc1");
  EXPECT_EQ(GuestPackageUpdate::upstreamVersion("1.0"), "1.0");
}

}  // namespace
}  // namespace berth::vm
