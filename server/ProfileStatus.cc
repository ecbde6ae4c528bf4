#include "server/ProfileStatus.h"

#include "vm/GuestImage.h"

namespace berth::server {

nlohmann::json ProfileStatus::base(const vm::ProfilePaths& paths, const vm::ProfileConfig& config,
                                   const std::string& status) {
  // A containerd profile's docker.sock only refuses (and no docker context is made for it):
  // its Docker keys are null, its containerd keys say how to reach it.
  const bool containerd = config.runtime == "containerd";
  const auto docker = [containerd](const std::string& value) {
    return containerd ? nlohmann::json() : nlohmann::json(value);
  };
  return {
      {"profile", paths.name},
      {"status", status},
      {"driver", config.vm_type},
      {"arch", config.arch},
      {"runtime", config.runtime},
      {"cpus", config.cpus},
      {"memory", config.memory},
      // The ns guest's data lives on the host's file system: no size is in force there.
      {"disk", config.vm_type == "ns" ? nlohmann::json() : nlohmann::json(config.disk)},
      {"socket", docker(paths.docker_socket)},
      {"dockerHost", docker("unix://" + paths.docker_socket)},
      // containerd's API on the host (runtime containerd), else null.
      {"containerdSocket", containerd ? nlohmann::json(paths.containerd_socket) : nlohmann::json()},
      // What containerd says its version is; only a running daemon asks it (else null).
      {"containerdVersion", nlohmann::json()},
      {"context", docker(paths.contextName())},
      {"address", ""},
      {"mounts", vm::ProfileConfig::sharesJson(config.effectiveMounts())},
      {"boot", {{"lazy", config.boot.lazy}, {"idleStop", config.boot.idle_stop}}},
      {"kubernetes", {{"enabled", config.kubernetes.enabled}}},
      // Where the qemu guest's image is downloaded from, when image.url decides it; else null.
      {"image", config.vm_type == "qemu" && vm::GuestImage::fromUrl(config)
                    ? nlohmann::json{{"url", config.image.url},
                                     {"sha256", config.image.sha256},
                                     {"folder", vm::GuestImage::folderFor(config)}}
                    : nlohmann::json()},
      {"daemon", {{"running", false}, {"log", paths.log_file}}}};
}

}  // namespace berth::server
