#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "server/net/ChildProcess.h"
#include "vm/QemuGuestConfig.h"

namespace berth::vm {
namespace {

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

class QemuGuestConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/b-qemu-cfgXXXXXX";
    dir_ = std::string(mkdtemp(tmpl)) + "/config";
  }
  void TearDown() override {
    std::filesystem::remove_all(std::filesystem::path(dir_).parent_path());
  }
  GuestConfigInput input() {
    GuestConfigInput in;
    in.authorized_key = "ssh-ed25519 AAAA user\n";
    in.host_private_key = "PRIVATE";
    in.host_public_key = "ssh-ed25519 BBBB host\n";
    in.tls_ca = "CA";
    in.tls_server_cert = "CERT";
    in.tls_server_key = "KEY";
    return in;
  }
  std::string dir_;
};

TEST_F(QemuGuestConfigTest, WritesEveryPieceTheGuestReads) {
  auto in = input();
  in.docker = {{"log-level", "warn"}, {"features", {{"buildkit", true}}}};
  in.dns = {"1.1.1.1", "9.9.9.9"};
  in.env = {{"HTTP_PROXY", "http://proxy:3128"}};
  in.shares = {{"/home/u", "/home/u", true}, {"/srv/my data", "/mnt/my data", false}};
  in.runtime = "containerd";
  in.containerd_config = "version = 2\n";
  QemuGuestConfig::write(dir_, in);
  namespace fs = std::filesystem;
  EXPECT_EQ(slurp(fs::path(dir_) / "authorized_keys"), "ssh-ed25519 AAAA user\n");
  EXPECT_EQ(slurp(fs::path(dir_) / "tls/server-key.pem"), "KEY");
  struct stat st {};
  ASSERT_EQ(stat((dir_ + "/tls/server-key.pem").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto daemon = nlohmann::json::parse(slurp(fs::path(dir_) / "daemon.json"));
  EXPECT_EQ(daemon["log-level"], "warn");
  EXPECT_EQ(daemon["features"]["buildkit"], true);
  EXPECT_EQ(slurp(fs::path(dir_) / "dns"), "1.1.1.1\n9.9.9.9\n");
  EXPECT_EQ(slurp(fs::path(dir_) / "env"), "HTTP_PROXY=http://proxy:3128\n");
  EXPECT_EQ(slurp(fs::path(dir_) / "mounts"), "9p share0 rw /home/u\n9p share1 ro /mnt/my data\n");
  EXPECT_EQ(slurp(fs::path(dir_) / "runtime"), "containerd\n");
  EXPECT_EQ(slurp(fs::path(dir_) / "containerd.toml"), "version = 2\n");
}

TEST_F(QemuGuestConfigTest, OptionalPiecesAreAbsentWhenUnset) {
  QemuGuestConfig::write(dir_, input());
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/daemon.json"));
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/dns"));
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/env"));
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/containerd.toml"));  // the image's own stays
  EXPECT_EQ(slurp(dir_ + "/mounts"), "");
  EXPECT_EQ(slurp(dir_ + "/runtime"), "docker\n");
}

TEST_F(QemuGuestConfigTest, RewritingRemovesStaleFiles) {
  auto in = input();
  in.dns = {"1.1.1.1"};
  QemuGuestConfig::write(dir_, in);
  QemuGuestConfig::write(dir_, input());
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/dns"));
}

TEST_F(QemuGuestConfigTest, ProvisionScriptIsValidShell) {
  QemuGuestConfig::write(dir_, input());
  auto result = net::ChildProcess::run({"sh", "-n", dir_ + "/provision.sh"});
  EXPECT_EQ(result.exit_code, 0) << result.output;
  auto usage = net::ChildProcess::run({"sh", dir_ + "/provision.sh", "bogus"});
  EXPECT_EQ(usage.exit_code, 2);
  EXPECT_NE(usage.output.find("usage"), std::string::npos);
}

}  // namespace
}  // namespace berth::vm
