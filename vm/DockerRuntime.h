#pragma once
// DockerRuntime: the `docker` runtime: dockerd (Debian's docker.io) in the guest, its Docker
// API relayed on docker.sock with berth's filters. For the ns driver it writes daemon.json
// (the profile's `docker:` map minus what berth owns, live-restore on so containers survive a
// restarted dockerd) and shuts dockerd down as a machine does (live-restore off first, then
// SIGTERM with the containers' stop timeouts). Stateless; thread-safe.
#include "vm/Runtime.h"

namespace berth::vm {

class DockerRuntime final : public Runtime {
 public:
  // dockerd's path ($BERTH_DOCKERD, else the usual places); throws DriverError when missing.
  static std::string dockerdPath();

  std::string name() const override { return "docker"; }
  std::string engineProgram() const override { return "dockerd"; }
  std::vector<std::string> nsArgv(const NsEngineLayout& layout) const override;
  // An empty /run/containerd: dockerd uses the host's containerd when its socket is there, and
  // the guest's containerd and shims (in the guest's cgroup, in its own namespace "moby") must
  // be its own.
  std::vector<NsGuestBind> nsBinds(const NsEngineLayout& layout) const override;
  bool writesOwnPidFile() const override { return true; }
  bool answers(const EngineEndpoint& endpoint, std::chrono::milliseconds timeout,
               std::string& error) const override;
  void shutdown(net::ChildProcess& engine, const EngineEndpoint& endpoint,
                const NsEngineLayout& layout) const override;
  int runningContainers(const EngineEndpoint& endpoint) const override;
  bool servesDockerApi() const override { return true; }
  bool servesContainerdApi() const override { return false; }
  std::string guestPackage() const override { return "docker.io"; }
  std::string guestService() const override { return "docker"; }

 private:
  // How long dockerd may take to shut down, given its shutdown-timeout: each running
  // container's stop timeout plus dockerd's grace (-1: for ever, as a stop timeout of -1).
  static int shutdownSeconds(const EngineEndpoint& endpoint, int shutdown_timeout);
  // live-restore would leave the containers running at a shutdown: turned off by a reload.
  static void disableLiveRestore(net::ChildProcess& dockerd, const EngineEndpoint& endpoint,
                                 const std::string& daemon_json);
};

}  // namespace berth::vm
