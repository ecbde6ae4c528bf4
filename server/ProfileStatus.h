#pragma once
// ProfileStatus: the part of `berth status --json` that follows from a profile's paths and
// config alone (the same keys whether its daemon runs or not). The daemon adds the live keys
// (guest, daemon, boot, address, sections such as forwards); the CLI uses it as-is for a
// stopped profile. Pure function; thread-safe.
#include <nlohmann/json.hpp>
#include <string>

#include "vm/ProfileConfig.h"
#include "vm/ProfilePaths.h"

namespace berth::server {

class ProfileStatus {
 public:
  // Keys: profile, status, driver, arch, runtime, cpus, memory, disk (null for ns: not
  // enforced), socket, dockerHost, context (null for runtime containerd: no Docker API),
  // containerdSocket (null unless runtime containerd), containerdVersion (null: the daemon
  // sets it while containerd answers), address (""), mounts, boot {lazy, idleStop}, kubernetes
  // {enabled}, image ({url, sha256, folder} when image.url gives a qemu guest its image, else
  // null), daemon {running: false, log}.
  static nlohmann::json base(const vm::ProfilePaths& paths, const vm::ProfileConfig& config,
                             const std::string& status);
};

}  // namespace berth::server
