#include <gtest/gtest.h>

#include <stdexcept>

#include "vm/HttpsDownload.h"
#include "vm/K3sArtifacts.h"
#include "vm/ProfileConfig.h"

namespace berth::vm {
namespace {

TEST(K3sArtifactsTest, ReleaseNamesPerArch) {
  const auto amd = K3sArtifacts::names("x86_64");
  EXPECT_EQ(amd.binary, "k3s");
  EXPECT_EQ(amd.images, "k3s-airgap-images-amd64.tar.gz");
  EXPECT_EQ(amd.sums, "sha256sum-amd64.txt");
  const auto arm = K3sArtifacts::names("aarch64");
  EXPECT_EQ(arm.binary, "k3s-arm64");
  EXPECT_EQ(arm.images, "k3s-airgap-images-arm64.tar.gz");
  EXPECT_EQ(arm.sums, "sha256sum-arm64.txt");
  EXPECT_THROW(K3sArtifacts::names("riscv64"), std::runtime_error);
}

TEST(K3sArtifactsTest, UrlEscapesThePlusOfTheVersion) {
  K3sRelease release{"v1.29.6+k3s1", "x86_64", "", ""};
  EXPECT_EQ(K3sArtifacts::url(release, "k3s"),
            "https://github.com/k3s-io/k3s/releases/download/v1.29.6%2Bk3s1/k3s");
  release.mirror = "https://mirror.example/k3s/";
  EXPECT_EQ(K3sArtifacts::url(release, "sha256sum-amd64.txt"),
            "https://mirror.example/k3s/v1.29.6%2Bk3s1/sha256sum-amd64.txt");
}

TEST(K3sArtifactsTest, ChecksumForReadsSha256sumLines) {
  const std::string a(64, 'a'), b(64, 'b'), c(64, 'c');
  const std::string sums = a + "  k3s\n" + b + " *k3s-airgap-images-amd64.tar.gz\n" + c +
                           "  ./k3s-images.txt\nnot a line\n" + "abc  short-hash\n";
  EXPECT_EQ(K3sArtifacts::checksumFor(sums, "k3s"), a);
  EXPECT_EQ(K3sArtifacts::checksumFor(sums, "k3s-airgap-images-amd64.tar.gz"), b);
  EXPECT_EQ(K3sArtifacts::checksumFor(sums, "k3s-images.txt"), c);
  EXPECT_EQ(K3sArtifacts::checksumFor(sums, "short-hash"), "");
  EXPECT_EQ(K3sArtifacts::checksumFor(sums, "k3s-arm64"), "");
}

TEST(K3sArtifactsTest, ProgressLineSaysBytesTotalAndRate) {
  EXPECT_EQ(HttpsDownload::describeProgress(3 << 20, 12 << 20, 2.0),
            "3.0 MiB of 12.0 MiB (25%), 1.5 MiB/s");
  EXPECT_EQ(HttpsDownload::describeProgress(1 << 20, 0, 1.0), "1.0 MiB, 1.0 MiB/s");
}

TEST(K3sArtifactsTest, OnlyHttpsUrlsAreFetched) {
  try {
    HttpsDownload::toString("http://mirror.example/x");
    FAIL() << "plain http accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("only https://"), std::string::npos) << e.what();
  }
}

TEST(K3sArtifactsTest, MirrorMustBeHttps) {
  ProfileConfig config = ProfileConfig::defaults();
  EXPECT_THROW(config.mergeText("kubernetes: {mirror: 'http://m.example'}", "berth.yaml"),
               ConfigError);
  EXPECT_NO_THROW(config.mergeText(
      "kubernetes: {mirror: 'https://m.example/k3s', artifacts: /srv/k3s}", "berth.yaml"));
  EXPECT_EQ(config.kubernetes.mirror, "https://m.example/k3s");
  EXPECT_EQ(config.kubernetes.artifacts, "/srv/k3s");
}

}  // namespace
}  // namespace berth::vm
