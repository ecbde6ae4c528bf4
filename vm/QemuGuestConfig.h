#pragma once
// QemuGuestConfig: the per-profile provisioning data for a qemu guest, written by the host into
// a folder that QEMU shares read-only with the guest (9p tag "berth-config"). At boot the
// image's berth-provision unit copies it to /etc/berth, unmounts it and runs its provision.sh,
// which installs the ssh keys and TLS material, writes daemon.json, DNS and env, mounts the
// shares and starts dockerd with --tlsverify (the containerd runtime keeps dockerd from
// starting; containerd's own unit runs it), after installing containerd's config. Layout: see
// contrib/guest/README.md. Thread-safe: write() touches only the given folder; callers serialise
// boots.
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "vm/Driver.h"

namespace berth::vm {

struct GuestConfigInput {
  std::string authorized_key;    // the profile's ssh public key (one line)
  std::string host_private_key;  // the guest's sshd host key (OpenSSH format)
  std::string host_public_key;
  std::string tls_ca, tls_server_cert, tls_server_key;  // PEM
  nlohmann::json docker = nlohmann::json::object();     // daemon.json, written verbatim
  std::vector<std::string> dns;
  std::map<std::string, std::string> env;
  std::vector<Share> shares;
  std::string mount_type = "9p";   // 9p | virtiofs
  std::string runtime = "docker";  // docker | containerd (which engine the guest runs)
  // The guest's containerd config.toml (both runtimes: dockerd uses that containerd too); ""
  // keeps the image's own.
  std::string containerd_config;
};

class QemuGuestConfig {
 public:
  // Replaces the contents of `dir` with the guest config; throws DriverError on I/O failure.
  static void write(const std::string& dir, const GuestConfigInput& input);
  // The guest-side script (also part of the saved-state key: a new script means a new boot).
  static const std::string& provisionScript();
};

}  // namespace berth::vm
