#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>

#include "vm/ProfileConfig.h"
#include "vm/ProfilePaths.h"

namespace berth::vm {
namespace {

// Merging `text` (as /p/berth.yaml) into the defaults throws a ConfigError saying `message`,
// and leaves the config as it was.
void expectRefused(const std::string& text, const std::string& message) {
  ProfileConfig config = ProfileConfig::defaults();
  const std::string before = config.toYaml();
  try {
    config.mergeText(text, "/p/berth.yaml");
    ADD_FAILURE() << "accepted: " << text;
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
  }
  EXPECT_EQ(config.toYaml(), before) << text;
}

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
docker:
  features: {buildkit: true}
  registry-mirrors: ["https://m.example"]
  max-concurrent-downloads: 3
  label: "007"
env: {HTTP_PROXY: "http://proxy:3128"}
boot: {lazy: true, idleStop: 10m}
relay: {spinMicros: 30, maxConnections: 64, headTimeout: 2m}
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
  EXPECT_EQ(again.relay.spin_micros, 30);  // not the default (0)
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

// Settings berth cannot carry out yet are refused with what is in force, never saved and shown.
TEST(ProfileConfigTest, UnimplementedSettingsAreRefusedAndChangeNothing) {
  for (const char* text : {"kubernetes: {enabled: true}", "kubernetes: {version: v1.29.1}",
                           "kubernetes: {k3sArgs: [--disable=traefik]}"}) {
    expectRefused(text, "not available yet");
  }
  ProfileConfig config = ProfileConfig::defaults();
  EXPECT_NO_THROW(config.mergeText("runtime: docker\nkubernetes: {enabled: false}", "berth.yaml"));
}

// nerdctl.binary: an absolute path, for containerd profiles only; kept across a save.
TEST(ProfileConfigTest, NerdctlBinaryIsAnAbsolutePathOnContainerdProfiles) {
  for (const char* text :
       {"runtime: containerd\nnerdctl: {binary: bin/nerdctl}",
        "runtime: docker\nnerdctl: {binary: /usr/local/bin/nerdctl}", "nerdctl: {path: /x}"}) {
    ProfileConfig config = ProfileConfig::defaults();
    config.runtime = "docker";
    const std::string before = config.toYaml();
    EXPECT_THROW(config.mergeText(text, "berth.yaml"), ConfigError) << text;
    EXPECT_EQ(config.toYaml(), before) << text;
  }
  ProfileConfig config = ProfileConfig::defaults();
  config.mergeText("runtime: containerd\nnerdctl: {binary: /opt/nerdctl}", "berth.yaml");
  EXPECT_EQ(config.nerdctl.binary, "/opt/nerdctl");
  ProfileConfig again = ProfileConfig::defaults();
  again.mergeText(config.toYaml(), "saved");
  EXPECT_EQ(again.nerdctl.binary, "/opt/nerdctl");
  EXPECT_EQ(config.toJson()["nerdctl"]["binary"], "/opt/nerdctl");
}

// containerd runs on both drivers, and nerdctl.binary is copied into the guest on both (ns: the
// profile's copy; qemu: over its ssh at boot); another runtime name is refused, changing nothing.
TEST(ProfileConfigTest, NerdctlBinaryIsTakenOnBothDrivers) {
  for (const char* vm_type : {"qemu", "ns"}) {
    ProfileConfig config = ProfileConfig::defaults();
    EXPECT_NO_THROW(
        config.mergeText(std::string("vmType: ") + vm_type +
                             "\nruntime: containerd\nnerdctl:\n  binary: /opt/nerdctl\n",
                         "berth.yaml"))
        << vm_type;
    EXPECT_EQ(config.nerdctl.binary, "/opt/nerdctl") << vm_type;
  }
  ProfileConfig other = ProfileConfig::defaults();
  EXPECT_THROW(other.mergeText("runtime: podman\n", "berth.yaml"), ConfigError);
  EXPECT_EQ(other.runtime, "docker");
}

// BERTH_DEFAULT_RUNTIME is the default of a new profile's runtime; a bad value is never used.
TEST(ProfileConfigTest, DefaultRuntimeComesFromTheEnvironment) {
  const char* saved = std::getenv("BERTH_DEFAULT_RUNTIME");
  const std::string old = saved ? saved : "";
  ::unsetenv("BERTH_DEFAULT_RUNTIME");
  EXPECT_EQ(ProfileConfig::defaultRuntime(), "docker");
  EXPECT_EQ(ProfileConfig::defaults().runtime, "docker");
  ::setenv("BERTH_DEFAULT_RUNTIME", "", 1);
  EXPECT_EQ(ProfileConfig::defaultRuntime(), "docker");
  ::setenv("BERTH_DEFAULT_RUNTIME", "containerd", 1);
  EXPECT_EQ(ProfileConfig::defaults().runtime, "containerd");
  // A file's runtime wins over the default.
  ProfileConfig config = ProfileConfig::defaults();
  config.mergeText("runtime: docker\n", "berth.yaml");
  EXPECT_EQ(config.runtime, "docker");
  for (const char* bad : {"podman", "Docker", " containerd"}) {
    ::setenv("BERTH_DEFAULT_RUNTIME", bad, 1);
    EXPECT_THROW(ProfileConfig::defaultRuntime(), ConfigError) << bad;
    EXPECT_EQ(ProfileConfig::defaults().runtime, "docker") << bad;
  }
  if (saved) {
    ::setenv("BERTH_DEFAULT_RUNTIME", old.c_str(), 1);
  } else {
    ::unsetenv("BERTH_DEFAULT_RUNTIME");
  }
}

// One table names every key: the file berth writes, the JSON it shows and the checks agree.
TEST(ProfileConfigTest, FileJsonAndChecksComeFromOneTable) {
  const ProfileConfig config = ProfileConfig::defaults();
  const YAML::Node file = YAML::Load(config.toYaml());
  const nlohmann::json json = config.toJson();
  std::vector<std::string> file_keys, json_keys;
  for (const auto& kv : file) {
    const std::string key = kv.first.as<std::string>();
    file_keys.push_back(key);
    if (kv.second.IsMap() && json[key].is_object()) {
      for (const auto& inner : kv.second) {
        EXPECT_TRUE(json[key].contains(inner.first.as<std::string>()))
            << key << "." << inner.first.as<std::string>();
      }
      EXPECT_EQ(json[key].size(), kv.second.size()) << key;
    }
  }
  for (const auto& [key, value] : json.items()) json_keys.push_back(key);
  std::sort(file_keys.begin(), file_keys.end());
  EXPECT_EQ(file_keys, json_keys);

  ProfileConfig edited = config;
  try {
    edited.mergeText("network:\n  dsn: [1.1.1.1]\n", "/p/berth.yaml");
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find(
                  "/p/berth.yaml:2:3: unknown key 'network.dsn' (known: dns, subnet)"),
              std::string::npos)
        << e.what();
  }
  // A value set in code (a flag) meets the same check as one read from the file.
  edited.cpus = 0;
  try {
    edited.validate();
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), "cpus must be a whole number from 1 to 1024, not '0'");
  }
  try {
    edited.mergeText("cpus: 0\n", "/p/berth.yaml");
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("/p/berth.yaml:1:7: cpus must be"), std::string::npos)
        << e.what();
  }
}

// image.url: https:// only (nothing else is fetched), pinned by a 64-hex sha256; a bad value is
// refused naming the file and line, and changes nothing. A checksum without a URL is harmless
// (a later layer may clear the URL).
TEST(ProfileConfigTest, ImageUrlIsHttpsAndNeedsItsSha256) {
  const std::string sum(64, 'a');
  struct Bad {
    std::string text, message;
  };
  const Bad bad[] = {
      {"image: {url: http://m.example/g.tar, sha256: " + sum + "}",
       "/p/berth.yaml:1:14: image.url must be an https:// URL, not 'http://m.example/g.tar'"},
      {"image: {url: 'https://', sha256: " + sum + "}", "image.url must be an https:// URL"},
      {"image:\n  url: https://m.example/g.tar\n",
       "/p/berth.yaml: image.url needs image.sha256, the archive's checksum (sha256sum FILE)"},
      {"image: {url: https://m.example/g.tar, sha256: " + sum.substr(1) + "}",
       "image.sha256 must be 64 lowercase hex digits (as sha256sum prints them), not '" +
           sum.substr(1) + "'"},
      {"image: {url: https://m.example/g.tar, sha256: " + std::string(64, 'A') + "}",
       "image.sha256 must be 64 lowercase hex digits"},
      {"image: {url: https://m.example/g.tar, sha256: " + std::string(64, 'g') + "}",
       "image.sha256 must be 64 lowercase hex digits"},
      {"image: {uri: https://m.example/g.tar}", "unknown key 'image.uri' (known: url, sha256)"},
  };
  for (const auto& [text, message] : bad) expectRefused(text, message);
  ProfileConfig config = ProfileConfig::defaults();
  config.mergeText("image: {url: https://m.example/g.tar, sha256: " + sum + "}", "template");
  config.mergeText("image: {url: ''}", "berth.yaml");  // the profile turns the template's off
  EXPECT_EQ(config.image.url, "");
  config.mergeText("image:\n  url: https://m.example:8443/x/g.tar.zst\n", "berth.yaml");
  EXPECT_EQ(config.image.sha256, sum);
  ProfileConfig again = ProfileConfig::defaults();
  again.mergeText(config.toYaml(), "saved");
  EXPECT_EQ(again.image.url, "https://m.example:8443/x/g.tar.zst");
  EXPECT_EQ(again.toJson()["image"]["sha256"], sum);
  config.image.url = "http://m.example/g.tar";  // set in code: the same check
  EXPECT_THROW(config.validate(), ConfigError);
}

TEST(ProfileConfigTest, ACyclicAliasOrDeepNestingIsRefusedNotAStackOverflow) {
  // The fuzzer's reproducer: an anchor on a list that holds its own alias.
  expectRefused("docker:\n  features:\n    buildkit: true\n  inner:\n  &a [*a]\n:\n",
                "alias refers to a node that holds it");
  expectRefused("docker:\n  x: &a [*a]\n", "nests deeper than 32 levels");
  expectRefused("docker: {x: " + std::string(40, '[') + std::string(40, ']') + "}\n",
                "nests deeper than 32 levels");
  ProfileConfig config = ProfileConfig::defaults();
  config.mergeText("docker: {x: " + std::string(20, '[') + std::string(20, ']') + "}\n", "in");
  EXPECT_TRUE(config.docker["x"].is_array());
}

TEST(ProfileConfigTest, StringsThatLookLikeOtherTypesStayStrings) {
  ProfileConfig config = ProfileConfig::defaults();
  config.mergeText(R"(env: {A: "007", B: "true", C: "", D: plain}
docker: {label: "1.5", debug: true}
diskImage: "1.29"
)",
                   "in");
  ProfileConfig again = ProfileConfig::defaults();
  again.mergeText(config.toYaml(), "out");
  EXPECT_EQ(again.env, (std::map<std::string, std::string>{
                           {"A", "007"}, {"B", "true"}, {"C", ""}, {"D", "plain"}}));
  EXPECT_EQ(again.docker["label"], "1.5");
  EXPECT_EQ(again.docker["debug"], true);
  EXPECT_EQ(again.disk_image, "1.29");
}

TEST(ProfileConfigTest, DomainsCanBeTurnedOffWithOneWord) {
  ProfileConfig config = ProfileConfig::defaults();
  EXPECT_TRUE(config.domains.enabled);
  EXPECT_EQ(config.domains.port, 0);
  config.mergeText("domains: {port: 8088}\n", "berth.yaml");
  EXPECT_TRUE(config.domains.enabled);
  EXPECT_EQ(config.domains.port, 8088);
  config.mergeText("domains: false\n", "berth.yaml");
  EXPECT_FALSE(config.domains.enabled);
  EXPECT_EQ(config.domains.port, 8088);
  config.mergeText("domains: {enabled: true}\n", "berth.yaml");
  EXPECT_TRUE(config.domains.enabled);
  EXPECT_THROW(config.mergeText("domains: maybe\n", "berth.yaml"), ConfigError);
  EXPECT_THROW(config.mergeText("domains: {port: 70000}\n", "berth.yaml"), ConfigError);
  EXPECT_TRUE(config.domains.enabled);
  ProfileConfig again = ProfileConfig::defaults();
  config.domains.enabled = false;
  again.mergeText(config.toYaml(), "saved");
  EXPECT_FALSE(again.domains.enabled);
  EXPECT_EQ(again.domains.port, 8088);
}

TEST(ProfileConfigTest, DashboardTakesAPlainBooleanOrItsSection) {
  ProfileConfig config = ProfileConfig::defaults();
  EXPECT_FALSE(config.dashboard.enabled);
  EXPECT_EQ(config.dashboard.port, 0);
  // `dashboard: true|false` is the issue's spelling; it leaves the port alone.
  struct Step {
    const char* yaml;
    bool enabled;
    int port;
  };
  for (const Step& step :
       {Step{"dashboard: true\n", true, 0}, Step{"dashboard: {port: 9300}\n", true, 9300},
        Step{"dashboard: false\n", false, 9300},
        Step{"dashboard: {enabled: true, port: 9301}\n", true, 9301}}) {
    config.mergeText(step.yaml, "berth.yaml");
    EXPECT_EQ(config.dashboard.enabled, step.enabled) << step.yaml;
    EXPECT_EQ(config.dashboard.port, step.port) << step.yaml;
  }
  // A bad value: one line naming the key and what it takes; nothing of the file applies.
  for (const char* bad : {"cpus: 3\ndashboard: maybe\n", "dashboard: 1.5\ncpus: 3\n",
                          "dashboard: [true]\n", "dashboard: {enabled: yes please}\n",
                          "dashboard: {port: 70000}\n", "dashboard: {open: true}\n"}) {
    try {
      config.mergeText(bad, "berth.yaml");
      ADD_FAILURE() << "accepted: " << bad;
    } catch (const ConfigError& e) {
      const std::string what = e.what();
      EXPECT_EQ(what.find('\n'), std::string::npos) << what;
      EXPECT_NE(what.find("dashboard"), std::string::npos) << what;
      EXPECT_EQ(what.rfind("berth.yaml", 0), 0u) << what;
    }
    EXPECT_TRUE(config.dashboard.enabled) << bad;
    EXPECT_EQ(config.dashboard.port, 9301) << bad;
    EXPECT_EQ(config.cpus, ProfileConfig::defaults().cpus) << bad;
  }
  // Saved as its section, and read back the same.
  ProfileConfig again = ProfileConfig::defaults();
  again.mergeText(config.toYaml(), "saved");
  EXPECT_TRUE(again.dashboard.enabled);
  EXPECT_EQ(again.dashboard.port, 9301);
}

}  // namespace
}  // namespace berth::vm
