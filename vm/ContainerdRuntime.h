#pragma once
// ContainerdRuntime: the `containerd` runtime: Debian's containerd (with runc) in the guest,
// its gRPC API relayed byte for byte on the host's containerd.sock, docker.sock refusing every
// request with a line saying how to use the profile. Its root (under the profile's data) and
// state and socket (under the profile's state dir) are always berth's; the rest of its config
// is berth's default, or the profile's `containerd/config.toml` when that file exists. runc's
// state, which containerd's runc shim keeps at the fixed /run/containerd/runc unless each client
// says otherwise (its `Root` option is per container, and a config default exists only for the
// CRI plugin), is the profile's `runc` directory mounted there in the guest. nerdctl.binary
// is copied into the profile at every boot (guestNerdctl). In a VM guest (qemu) containerd is
// the image's own, run by its systemd unit with vmConfig() as /etc/containerd/config.toml (for
// the docker runtime too: its dockerd uses that containerd), and the qemu driver copies
// nerdctl.binary to kVmNerdctl. berth's default turns the CRI plugin off: nothing of berth uses
// it, and its stream server's port on the guest's 127.0.0.1 would be forwarded as a user's.
// Readiness is a real `ctr version` answer. Stateless; thread-safe.
#include "vm/Runtime.h"

namespace berth::vm {

class ContainerdRuntime final : public Runtime {
 public:
  // The profile's own containerd config (used instead of berth's default when present).
  static std::string userConfigFile(const ProfilePaths& paths);
  // The config berth writes for a guest whose engine socket, root and state are these.
  static std::string defaultConfig(const std::string& socket, const std::string& root,
                                   const std::string& state);
  // The ctr argv that talks to the containerd at `socket` (ctr from PATH).
  static std::vector<std::string> ctrArgv(const std::string& socket);
  // The server's version in `ctr version`'s output (its Server part), "" when it has none.
  static std::string serverVersion(const std::string& ctr_version_output);
  // A VM guest's containerd: its API socket (its unit's default), and its config: the
  // profile's `user_config` file when it exists (it keeps this socket: berth forwards it),
  // else berth's default with the guest's usual root and state.
  static constexpr const char* kVmSocket = "/run/containerd/containerd.sock";
  static std::string vmConfig(const std::string& user_config);
  // Where a VM guest has nerdctl.binary (copied over ssh at every boot when it differs).
  static constexpr const char* kVmNerdctl = "/usr/local/bin/nerdctl";
  // Where the guest has the profile's copy of nerdctl.binary (copied at every boot; the ns
  // guest sees the path as the host does).
  static std::string guestNerdctl(const ProfilePaths& paths);

  std::string name() const override { return "containerd"; }
  std::string engineProgram() const override { return "containerd"; }
  std::vector<std::string> nsArgv(const NsEngineLayout& layout) const override;
  // The profile's <state dir>/runc at the runc shim's default root.
  std::vector<NsGuestBind> nsBinds(const NsEngineLayout& layout) const override;
  static constexpr const char* kRuncRoot = "/run/containerd/runc";
  bool writesOwnPidFile() const override { return false; }
  bool answers(const EngineEndpoint& endpoint, std::chrono::milliseconds timeout,
               std::string& error) const override;
  // containerd's own answer (its Version service, through `ctr version`).
  std::string engineVersion(const EngineEndpoint& endpoint,
                            std::chrono::milliseconds timeout) const override;
  void shutdown(net::ChildProcess& engine, const EngineEndpoint& endpoint,
                const NsEngineLayout& layout) const override;
  int runningContainers(const EngineEndpoint& endpoint) const override;
  bool servesDockerApi() const override { return false; }
  bool servesContainerdApi() const override { return true; }
  std::string guestPackage() const override { return "containerd"; }
  std::string guestService() const override { return "containerd"; }
};

}  // namespace berth::vm
