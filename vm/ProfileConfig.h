#pragma once
// ProfileConfig: one profile's settings, as in berth.yaml (DESIGN.md "Config"). Built in layers
// -- defaults, then the template, then the profile's file, then the command-line flags -- each
// layer overriding only the keys it names. Files are read and written with yaml-cpp; a malformed
// file or a bad value throws ConfigError naming the file and line. Value type; not thread-safe
// (copy it to share).
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "vm/Driver.h"
#include "vm/RelayTuning.h"

namespace berth::vm {

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct NetworkConfig {
  std::vector<std::string> dns;  // resolvers for the guest (and its containers)
  std::string subnet;            // ns driver: the veth /24 (e.g. 172.30.7.0/24); "" = pick one
};

struct ForwardingConfig {
  std::string bind = "loopback";  // loopback | mirror
  bool udp = true;
  bool nat = true;  // TCP on 127.0.0.1 through a kernel DNAT (ns driver, root, nft)
};

struct KubernetesConfig {
  bool enabled = false;
  std::string version;  // "" = berth's pinned k3s release (K3sArtifacts::kDefaultVersion)
  std::vector<std::string> k3s_args;
  std::string mirror;     // where k3s releases are downloaded from; "" = the k3s project's
  std::string artifacts;  // an offline folder holding a release's files; "" = download
};

struct BootConfig {
  bool lazy = false;      // the first API request boots the guest
  std::string idle_stop;  // "" or "0": never; else a duration ("30s", "10m", "1h")
};

struct DashboardConfig {
  bool enabled = false;  // the daemon serves the dashboard from its start
  int port = 0;          // 0: a free port, kept in the profile dir for the next runs
};

// The host HTTP front that reaches containers by name (<container>.<profile>.berth.localhost).
struct DomainsConfig {
  bool enabled = true;  // `domains: false` turns it off
  int port = 0;         // 0: port 80 when berth may bind it, and a free port kept per profile
};

// containerd runtime: a host nerdctl binary copied into the guest at every boot (nerdctl is
// not a Debian package).
struct NerdctlConfig {
  std::string binary;  // "" = none (berth nerdctl looks on the host's PATH)
};

// qemu: a prebuilt guest image downloaded on the first start instead of built
// (GuestImageDownload); a tar archive, plain or gzip/zstd-compressed, of disk.qcow2, vmlinuz
// and initrd.img.
struct ImageConfig {
  std::string url;     // https:// URL of the archive; "" = build the image (berth image build)
  std::string sha256;  // the archive's sha256 (64 lowercase hex digits); required with url
};

class ProfileConfig {
 public:
  int cpus = 2;
  double memory = 2;  // GiB
  int disk = 60;      // GiB
  std::string arch;   // x86_64 | aarch64; defaults to the host's
  std::string runtime = "docker";
  std::string vm_type;  // qemu | ns; "" until chosen at first start
  std::string mount_type = "9p";
  std::string disk_image;  // qemu: a prebuilt guest image folder; "" = the newest cached build
  ImageConfig image;       // qemu: where a prebuilt image is downloaded from (diskImage wins)
  std::optional<std::vector<Share>> mounts;  // unset: the default share (home, writable)
  NetworkConfig network;
  ForwardingConfig forwarding;
  KubernetesConfig kubernetes;
  nlohmann::json docker = nlohmann::json::object();  // the guest's daemon.json, verbatim
  std::map<std::string, std::string> env;
  BootConfig boot;
  RelayTuning relay;
  std::vector<std::string> listen;
  bool docker_sock = false;  // link /var/run/docker.sock to the profile's socket (root)
  DashboardConfig dashboard;
  DomainsConfig domains;
  NerdctlConfig nerdctl;

  // Built-in defaults (arch = the host's, runtime = defaultRuntime() when that is valid).
  static ProfileConfig defaults();
  // $BERTH_DEFAULT_RUNTIME, else "docker"; throws ConfigError for a value that is neither
  // docker nor containerd.
  static std::string defaultRuntime();
  // Applies the keys present in the YAML file at `path`; a missing file changes nothing.
  void mergeFile(const std::string& path);
  // Applies the keys present in `text`; `source` names it in errors.
  void mergeText(const std::string& text, const std::string& source);
  // The whole config as YAML (every key), and written atomically to `path` (mode 0600).
  std::string toYaml() const;
  void save(const std::string& path) const;
  // Every key as JSON, with the shares in force (`mounts` unset: the default share).
  nlohmann::json toJson() const;

  // The configured shares, or the default one (the user's home, writable).
  std::vector<Share> effectiveMounts() const;
  // Shares as berth.yaml and `berth status --json` spell them: [{location, mountPoint, writable}].
  static nlohmann::json sharesJson(const std::vector<Share>& shares);
  // Idle-stop delay in milliseconds; 0 = never. Throws ConfigError on a bad duration.
  long long idleStopMillis() const;
  // relay.headTimeout in milliseconds. Throws ConfigError on a bad duration.
  long long relayHeadTimeoutMillis() const;

  // Refuses `wanted` when it changes a setting that is fixed once a profile exists (arch,
  // vmType, runtime): throws ConfigError saying what to do instead.
  static void checkImmutable(const ProfileConfig& existing, const ProfileConfig& wanted,
                             const std::string& profile);
  // Throws ConfigError when a value is out of range (cpus < 1, unknown vmType, ...).
  void validate() const;
  // The fixed set of values the key at `key` ("arch", "forwarding.bind") takes, as its check
  // uses them; empty for a key without one. Throws std::logic_error for an unknown key.
  static std::vector<std::string> choices(const std::string& key);
};

// Parses "500ms", "30s", "10m", "1h30m", "0" into milliseconds; throws std::invalid_argument.
long long parseDurationMillis(const std::string& text);
// The host's architecture in berth's spelling (x86_64, aarch64).
std::string hostArch();

}  // namespace berth::vm
