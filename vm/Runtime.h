#pragma once
// Runtime: the seam beside the Driver: which engine runs in the guest (dockerd or containerd),
// how it is configured and started there, what counts as its real answer, how it shuts down as
// a machine does, and which host sockets the profile daemon serves for it. The driver boots
// the guest and supervises the engine process through this interface; the daemon asks it which
// sockets to open. Runtimes are stateless: every call gets what it needs; thread-safe.
// Calls that run programs or talk to the engine block: never on an I/O thread.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "vm/Driver.h"

namespace berth::net {
class ChildProcess;
}

namespace berth::vm {

class ProfileConfig;
class ProfilePaths;

// Where an `ns` guest's engine keeps its files, as the ns driver lays them out.
struct NsEngineLayout {
  const ProfileConfig& config;
  const ProfilePaths& paths;
  std::string engine_socket;  // the engine's API socket (same path on the host and the guest)
  std::string exec_root;      // short runtime-state path under /run/berth/<id>
  std::string cgroup_parent;  // the guest's cgroup, for the engine's containers
  std::string pid_file;       // the engine process's pid file
};

// A directory of the profile mounted over `guest_path` in an `ns` guest's private mount
// namespace: made with the namespace, so it outlives engine restarts; the host's own path is
// untouched (the namespace's mounts do not propagate out).
struct NsGuestBind {
  std::string profile_dir;
  std::string guest_path;
};

class Runtime {
 public:
  virtual ~Runtime() = default;
  // The runtime named `name` ("docker", "containerd"); throws DriverError for another name.
  static std::unique_ptr<Runtime> make(const std::string& name);

  virtual std::string name() const = 0;
  // The engine's program name (its comm): "dockerd", "containerd"; in logs and status lines.
  virtual std::string engineProgram() const = 0;
  // ns driver: writes the engine's config files under the profile's state dir and returns the
  // argv that runs it in the guest. Throws DriverError (e.g. the program is not installed).
  virtual std::vector<std::string> nsArgv(const NsEngineLayout& layout) const = 0;
  // ns driver: the profile's directories the guest sees in place of fixed paths (none unless
  // the engine keeps state at a fixed path that profiles would otherwise share).
  virtual std::vector<NsGuestBind> nsBinds(const NsEngineLayout&) const { return {}; }
  // True when the engine writes its own pid file (the guest's init writes it otherwise).
  virtual bool writesOwnPidFile() const = 0;
  // A real answer from the engine at `endpoint` within `timeout` (never a bare connect); on
  // false, `error` says why.
  virtual bool answers(const EngineEndpoint& endpoint, std::chrono::milliseconds timeout,
                       std::string& error) const = 0;
  // Stops the engine as a machine shutdown would (containers get their stop timeouts where
  // the engine knows them); the caller kills whatever is left afterwards.
  virtual void shutdown(net::ChildProcess& engine, const EngineEndpoint& endpoint,
                        const NsEngineLayout& layout) const = 0;
  // The version the engine at `endpoint` reports of itself within `timeout`, for the status;
  // "" when it does not answer, or for a runtime whose status shows none (docker: `berth
  // version` asks the relay).
  virtual std::string engineVersion(const EngineEndpoint&, std::chrono::milliseconds) const {
    return {};
  }
  // Running containers (tasks), or -1 when unknown (idle stop then waits).
  virtual int runningContainers(const EngineEndpoint& endpoint) const = 0;
  // The host sockets of the profile: docker.sock relays the Docker API (else it refuses every
  // request saying how to use the profile); containerd.sock relays containerd's gRPC API.
  virtual bool servesDockerApi() const = 0;
  virtual bool servesContainerdApi() const = 0;
  // A VM guest's Debian package of the engine and the systemd unit that runs it (what
  // `berth update` moves to the guest's newest version and restarts).
  virtual std::string guestPackage() const = 0;
  virtual std::string guestService() const = 0;
};

}  // namespace berth::vm
