#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "vm/Kubeconfig.h"

namespace berth::vm {
namespace {

namespace fs = std::filesystem;

// What k3s writes to /etc/rancher/k3s/k3s.yaml (certificates shortened).
constexpr const char* kAdmin = R"(apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: Q0EtREFUQQ==
    server: https://127.0.0.1:6443
  name: default
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
kind: Config
preferences: {}
users:
- name: default
  user:
    client-certificate-data: Q0VSVC1EQVRB
    client-key-data: S0VZLURBVEE=
)";

// A user's own kubeconfig, as kubectl writes it.
constexpr const char* kUsers = R"(apiVersion: v1
clusters:
- cluster:
    server: https://prod.example:443
  name: prod
contexts:
- context:
    cluster: prod
    namespace: web
    user: admin
  name: prod
current-context: prod
kind: Config
preferences: {}
users:
- name: admin
  user:
    token: secret-token
)";

std::string tempDir() {
  char dir_template[] = "/tmp/b-kube-XXXXXX";
  return ::mkdtemp(dir_template);
}

void writeFile(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
}

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Debian's kubectl (tests/ci/apt-packages.txt: kubernetes-client) run with KUBECONFIG=`config`;
// its stdout, or "kubectl failed: ..." so an assertion on the output fails visibly.
std::string kubectl(const std::string& config, const std::string& args) {
  const std::string command = "KUBECONFIG='" + config + "' kubectl " + args + " 2>&1";
  // Through the shell on purpose (KUBECONFIG=, 2>&1, kubectl's exact output with its newlines);
  // the command is made of this file's constants only.
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(
      ::popen(command.c_str(), "r"),  // NOLINT(bugprone-command-processor)
      ::pclose);
  if (!pipe) return "kubectl failed: popen";
  std::string out;
  std::array<char, 4096> buffer{};
  while (std::fgets(buffer.data(), buffer.size(), pipe.get()) != nullptr) out += buffer.data();
  const int status = ::pclose(pipe.release());
  if (status != 0) return "kubectl failed (" + std::to_string(status) + "): " + out;
  return out;
}

TEST(KubeconfigTest, UserFileIsTheFirstPathOfKubeconfigElseHome) {
  const char* home = std::getenv("HOME");
  const std::string saved_home = home != nullptr ? home : "/root";
  ::setenv("HOME", "/home/someone", 1);
  ::unsetenv("KUBECONFIG");
  EXPECT_EQ(Kubeconfig::userFile(), "/home/someone/.kube/config");
  ::setenv("KUBECONFIG", "", 1);
  EXPECT_EQ(Kubeconfig::userFile(), "/home/someone/.kube/config");
  ::setenv("KUBECONFIG", "::/a/first:/b/second", 1);
  EXPECT_EQ(Kubeconfig::userFile(), "/a/first");
  ::setenv("KUBECONFIG", "/only", 1);
  EXPECT_EQ(Kubeconfig::userFile(), "/only");
  ::unsetenv("KUBECONFIG");
  ::setenv("HOME", saved_home.c_str(), 1);
}

TEST(KubeconfigTest, MergeIntoNoFileCreatesItPrivateAndCurrent) {
  const std::string dir = tempDir();
  const std::string file = dir + "/new/.kube/config";
  Kubeconfig::merge(file, kAdmin, "berth", "https://127.0.0.1:6443", false);
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(kubectl(file, "config current-context"), "berth\n");
  EXPECT_EQ(kubectl(file, "config get-contexts -o name"), "berth\n");
  EXPECT_EQ(kubectl(file, "config view --minify --raw -o jsonpath={.clusters[0].cluster.server}"),
            "https://127.0.0.1:6443");
  EXPECT_EQ(kubectl(file,
                    "config view --minify --raw "
                    "-o jsonpath={.users[0].user.client-key-data}"),
            "S0VZLURBVEE=");
  fs::remove_all(dir);
}

TEST(KubeconfigTest, MergeKeepsTheUsersEntriesAndActivatesOnlyWhenAsked) {
  const std::string dir = tempDir();
  const std::string file = dir + "/config";
  writeFile(file, kUsers);
  Kubeconfig::merge(file, kAdmin, "berth-dev", "https://127.0.0.1:40123", false);
  EXPECT_EQ(kubectl(file, "config current-context"), "prod\n");
  EXPECT_EQ(kubectl(file, "config get-contexts -o name"), "berth-dev\nprod\n");
  EXPECT_EQ(kubectl(file,
                    "config view --minify --raw --context berth-dev "
                    "-o jsonpath={.clusters[0].cluster.server}"),
            "https://127.0.0.1:40123");
  EXPECT_EQ(kubectl(file, "config view --minify --raw -o jsonpath={.users[0].user.token}"),
            "secret-token");
  EXPECT_EQ(kubectl(file, "config view --minify -o jsonpath={.contexts[0].context.namespace}"),
            "web");

  // A second merge (k3s reset, a new port) replaces berth's entries instead of adding more.
  Kubeconfig::merge(file, kAdmin, "berth-dev", "https://127.0.0.1:40124", true);
  EXPECT_EQ(kubectl(file, "config current-context"), "berth-dev\n");
  EXPECT_EQ(kubectl(file, "config view -o jsonpath={.clusters[*].name}"), "berth-dev prod");
  EXPECT_EQ(kubectl(file, "config view --minify --raw -o jsonpath={.clusters[0].cluster.server}"),
            "https://127.0.0.1:40124");
  EXPECT_EQ(kubectl(file, "config view -o jsonpath={.users[*].name}"), "admin berth-dev");
  fs::remove_all(dir);
}

TEST(KubeconfigTest, RemoveTakesExactlyBerthsEntries) {
  const std::string dir = tempDir();
  const std::string file = dir + "/config";
  writeFile(file, kUsers);
  Kubeconfig::merge(file, kAdmin, "berth", "https://127.0.0.1:6443", true);
  Kubeconfig::merge(file, kAdmin, "berth-other", "https://127.0.0.1:6444", false);
  EXPECT_TRUE(Kubeconfig::remove(file, "berth"));
  EXPECT_EQ(kubectl(file, "config get-contexts -o name"), "berth-other\nprod\n");
  EXPECT_EQ(kubectl(file, "config view -o jsonpath={.users[*].name}"), "admin berth-other");
  EXPECT_EQ(Kubeconfig::currentContext(file), "");  // it was berth's: nothing current now
  EXPECT_FALSE(Kubeconfig::remove(file, "berth"));  // nothing left to remove
  EXPECT_TRUE(Kubeconfig::remove(file, "berth-other"));
  EXPECT_EQ(kubectl(file, "config get-contexts -o name"), "prod\n");
  EXPECT_EQ(kubectl(file,
                    "config view --raw --context prod --minify "
                    "-o jsonpath={.clusters[0].cluster.server}"),
            "https://prod.example:443");
  EXPECT_FALSE(Kubeconfig::remove(dir + "/missing", "berth"));
  EXPECT_FALSE(fs::exists(dir + "/missing"));
  fs::remove_all(dir);
}

TEST(KubeconfigTest, SeveralPathsWriteTheFirstAndKubectlSeesBoth) {
  const std::string dir = tempDir();
  writeFile(dir + "/second", kUsers);
  const std::string list = dir + "/first:" + dir + "/second";
  ::setenv("KUBECONFIG", list.c_str(), 1);
  Kubeconfig::merge(Kubeconfig::userFile(), kAdmin, "berth", "https://127.0.0.1:6443", false);
  ::unsetenv("KUBECONFIG");
  EXPECT_TRUE(fs::exists(dir + "/first"));
  EXPECT_EQ(readFile(dir + "/second"), kUsers);
  // kubectl merges the list: the first file's current-context wins.
  EXPECT_EQ(kubectl(list, "config get-contexts -o name"), "berth\nprod\n");
  EXPECT_EQ(kubectl(list, "config current-context"), "berth\n");
  fs::remove_all(dir);
}

TEST(KubeconfigTest, SymlinkedFileStaysALink) {
  const std::string dir = tempDir();
  writeFile(dir + "/real", kUsers);
  fs::create_symlink(dir + "/real", dir + "/config");
  Kubeconfig::merge(dir + "/config", kAdmin, "berth", "https://127.0.0.1:6443", false);
  EXPECT_TRUE(fs::is_symlink(dir + "/config"));
  EXPECT_EQ(kubectl(dir + "/real", "config get-contexts -o name"), "berth\nprod\n");
  fs::remove_all(dir);
}

TEST(KubeconfigTest, RefusesWhatIsNotAKubeconfigAndChangesNothing) {
  const std::string dir = tempDir();
  const std::string file = dir + "/config";
  writeFile(file, "clusters: [unclosed\n");
  EXPECT_THROW(Kubeconfig::merge(file, kAdmin, "berth", "https://127.0.0.1:6443", true),
               std::runtime_error);
  EXPECT_EQ(readFile(file), "clusters: [unclosed\n");
  writeFile(file, "clusters: 3\n");
  EXPECT_THROW(Kubeconfig::merge(file, kAdmin, "berth", "https://127.0.0.1:6443", true),
               std::runtime_error);
  EXPECT_EQ(readFile(file), "clusters: 3\n");
  // An admin kubeconfig without a cluster (k3s still writing it) is refused before any write.
  EXPECT_THROW(Kubeconfig::merge(dir + "/other", "apiVersion: v1\n", "berth", "https://x", true),
               std::runtime_error);
  EXPECT_FALSE(fs::exists(dir + "/other"));
  fs::remove_all(dir);
}

TEST(KubeconfigTest, StandaloneIsOneContextNamedForTheProfile) {
  const std::string dir = tempDir();
  const std::string file = dir + "/config";
  writeFile(file, Kubeconfig::standalone(kAdmin, "berth-p", "https://127.0.0.1:7000"));
  EXPECT_EQ(kubectl(file, "config get-contexts -o name"), "berth-p\n");
  EXPECT_EQ(kubectl(file, "config current-context"), "berth-p\n");
  EXPECT_EQ(kubectl(file, "config view --raw -o jsonpath={.clusters[0].cluster.server}"),
            "https://127.0.0.1:7000");
  fs::remove_all(dir);
}

}  // namespace
}  // namespace berth::vm
