#include <gtest/gtest.h>

#include "vm/ProfileConfig.h"
#include "vm/ProfilePaths.h"

namespace berth::vm {
namespace {

TEST(ProfileConfigTest, LayersOverrideOnlyTheKeysTheyName) {
  ProfileConfig config = ProfileConfig::defaults();
  config.mergeText("cpus: 4\nmemory: 8\nboot: {lazy: true}\n", "template");
  config.mergeText("memory: 3\nnetwork:\n  dns: [1.1.1.1]\n", "berth.yaml");
  EXPECT_EQ(config.cpus, 4);
  EXPECT_EQ(config.memory, 3);
  EXPECT_TRUE(config.boot.lazy);
  EXPECT_EQ(config.network.dns, std::vector<std::string>{"1.1.1.1"});
  EXPECT_EQ(config.disk, 60);
}

TEST(ProfileConfigTest, RoundTripsEveryKeyThroughYaml) {
  ProfileConfig config = ProfileConfig::defaults();
  config.mergeText(R"(cpus: 3
memory: 1.5
disk: 20
vmType: ns
diskImage: /var/cache/berth/images/abc
mounts:
  - location: /srv/data
    mountPoint: /data
    writable: true
  - location: /opt
network: {dns: [9.9.9.9], subnet: 172.30.9.0/24}
forwarding: {bind: mirror, udp: false, nat: false}
kubernetes: {enabled: true, version: v1.29.1+k3s1, k3sArgs: [--disable=traefik]}
docker:
  features: {buildkit: true}
  registry-mirrors: ["https://m.example"]
  max-concurrent-downloads: 3
  label: "007"
env: {HTTP_PROXY: "http://proxy:3128"}
boot: {lazy: true, idleStop: 10m}
relay: {spinMicros: 0, maxConnections: 64, headTimeout: 2m}
listen: [tcp://127.0.0.1:2376]
)",
                   "in");
  ProfileConfig again = ProfileConfig::defaults();
  again.mergeText(config.toYaml(), "out");
  EXPECT_EQ(again.toJson(), config.toJson());
  EXPECT_EQ(config.docker["features"]["buildkit"], true);
  EXPECT_EQ(config.docker["max-concurrent-downloads"], 3);
  EXPECT_EQ(config.docker["label"], "007");  // quoted: stays a string
  ASSERT_TRUE(config.mounts.has_value());
  EXPECT_EQ((*config.mounts)[1].mount_point, "/opt");  // omitted mountPoint: same path
  EXPECT_FALSE((*config.mounts)[1].writable);
  EXPECT_EQ(config.idleStopMillis(), 600000);
  EXPECT_EQ(again.relay.spin_micros, 0);
  EXPECT_EQ(again.relay.max_connections, 64);
  EXPECT_EQ(again.relayHeadTimeoutMillis(), 120000);
  EXPECT_EQ(again.disk_image, "/var/cache/berth/images/abc");
  EXPECT_FALSE(again.forwarding.nat);
  EXPECT_TRUE(ProfileConfig::defaults().forwarding.nat);
}

TEST(ProfileConfigTest, ErrorsNameTheSourceAndLine) {
  ProfileConfig config = ProfileConfig::defaults();
  try {
    config.mergeText("cpus: 2\nmemory: lots\n", "/p/berth.yaml");
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("/p/berth.yaml:2:"), std::string::npos) << e.what();
  }
  try {
    config.mergeText("cpus: 2\n\ncpu: 4\n", "/p/berth.yaml");
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("/p/berth.yaml:3:1: unknown key 'cpu'"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(config.mergeText("mounts: [ {location: /x\n", "f"), ConfigError);
  EXPECT_THROW(config.mergeText("vmType: kvm\n", "f"), ConfigError);
  EXPECT_EQ(config.cpus, 2);  // a bad layer changes nothing
}

TEST(ProfileConfigTest, ImmutableKeysAreRefusedWithWhatToDo) {
  ProfileConfig existing = ProfileConfig::defaults();
  existing.vm_type = "ns";
  ProfileConfig wanted = existing;
  EXPECT_NO_THROW(ProfileConfig::checkImmutable(existing, wanted, "default"));
  wanted.vm_type = "qemu";
  try {
    ProfileConfig::checkImmutable(existing, wanted, "dev");
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("vmType"), std::string::npos);
    EXPECT_NE(what.find("berth delete dev"), std::string::npos);
  }
}

TEST(ProfileConfigTest, Durations) {
  EXPECT_EQ(parseDurationMillis(""), 0);
  EXPECT_EQ(parseDurationMillis("0"), 0);
  EXPECT_EQ(parseDurationMillis("500ms"), 500);
  EXPECT_EQ(parseDurationMillis("1h30m"), 5400000);
  EXPECT_THROW(parseDurationMillis("10"), std::invalid_argument);
  EXPECT_THROW(parseDurationMillis("5d"), std::invalid_argument);
  // The fuzzer's find: a number past long long's range is refused, not converted.
  EXPECT_THROW(parseDurationMillis("1h" + std::string(90, '9') + "m"), std::invalid_argument);
  EXPECT_THROW(parseDurationMillis("100000000000h"), std::invalid_argument);
}

TEST(ProfilePathsTest, NamesAndPlaces) {
  EXPECT_TRUE(ProfilePaths::isValidName("default"));
  EXPECT_TRUE(ProfilePaths::isValidName("a-1"));
  EXPECT_TRUE(ProfilePaths::isValidName(std::string(31, 'a')));
  for (const char* bad : {"", "-a", "A", "a_b", "../x", "a/b", ".", "a b"}) {
    EXPECT_FALSE(ProfilePaths::isValidName(bad)) << bad;
  }
  EXPECT_FALSE(ProfilePaths::isValidName(std::string(32, 'a')));
  auto p = ProfilePaths::forProfile("dev", "/h");
  EXPECT_EQ(p.docker_socket, "/h/dev/docker.sock");
  EXPECT_EQ(p.contextName(), "berth-dev");
  EXPECT_EQ(ProfilePaths::forProfile("default", "/h").contextName(), "berth");
  EXPECT_THROW(ProfilePaths::forProfile("../etc", "/h"), std::invalid_argument);
}

TEST(ProfileConfigTest, BadRelayValuesAreRefusedAndChangeNothing) {
  for (const char* text :
       {"relay: {spinMicros: -1}", "relay: {spinMicros: 20000}", "relay: {maxConnections: 0}",
        "relay: {headTimeout: 10ms}", "relay: {headTimeout: soon}", "relay: {spin: 1}"}) {
    ProfileConfig config = ProfileConfig::defaults();
    const std::string before = config.toYaml();
    EXPECT_THROW(config.mergeText(text, "berth.yaml"), ConfigError) << text;
    EXPECT_EQ(config.toYaml(), before) << text;
  }
}

}  // namespace
}  // namespace berth::vm
