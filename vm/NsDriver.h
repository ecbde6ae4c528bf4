#pragma once
// NsDriver: the `ns` driver. The guest is the runtime's engine (dockerd or containerd, see
// Runtime) in a network namespace of its own (a veth pair to the host, guest address
// <subnet>.2, not loopback) and a mount namespace of its own (shares bind-mounted at their
// mount points, resolv.conf from network.dns), its data under the profile's state dir, its
// engine on a unix socket there. A supervisor thread restarts the engine with a bounded
// back-off when it dies. After a daemon crash, start() adopts an engine that still runs
// (containers keep running). stop() leaves no process, namespace or veth.
// Thread-safety: start/stop are serialised by the caller; status() is safe from any thread.
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "server/net/ChildProcess.h"
#include "vm/Driver.h"
#include "vm/GuestCgroup.h"
#include "vm/ProfileConfig.h"
#include "vm/ProfilePaths.h"
#include "vm/Runtime.h"

namespace berth::vm {

class NsDriver final : public Driver {
 public:
  NsDriver(ProfileConfig config, ProfilePaths paths);
  ~NsDriver() override;

  std::string name() const override { return "ns"; }
  void start(const ProgressSink& progress) override;
  void stop(bool force) override;
  GuestStatus status() const override;
  EngineEndpoint engine() const override;
  std::string guestAddress() const override;
  std::string guestNetworkNamespace() const override { return "/var/run/netns/" + netns_; }
  std::vector<Share> shares() const override { return shares_; }
  std::string guestEngineSocket() const override { return engine_socket_; }
  const Runtime& runtime() const override { return *runtime_; }
  bool runsHostPrograms() const override { return true; }
  // nsenter into the guest's network and mount namespaces.
  std::vector<std::string> shellArgv(const std::vector<std::string>& command,
                                     bool tty) const override;
  // The guest (its engine, or the namespaces holding its containers) runs without its daemon.
  bool orphanRunning() const override { return guestRunning(paths_); }
  std::string hostEngineVersion() const override;

  // The network namespace's name (ip netns), for `berth ssh` and tests.
  const std::string& netnsName() const { return netns_; }
  // Pid of the running engine, or 0.
  int enginePid() const;
  // Pid of an engine (dockerd or containerd) of this profile that still runs, or 0.
  static int runningEngine(const ProfilePaths& paths);
  // The pid file of the guest's engine `program` ("dockerd", "containerd").
  static std::string enginePidFile(const ProfilePaths& paths, const std::string& program);
  // True while the guest (its engine, or the namespaces holding its containers) still runs.
  static bool guestRunning(const ProfilePaths& paths);
  // The guest's network namespace name (ip netns) for a profile.
  static std::string guestId(const ProfilePaths& paths);

 private:
  struct Network {
    std::string subnet;  // "172.30.N" (the /24's first three octets)
  };

  bool adoptRunningEngine();
  // The engine is gone but the guest's namespaces (and containers) are not: start one in them.
  bool adoptGuest();
  void cleanupLeftovers();
  void createNetwork(const ProgressSink& progress);
  void deleteNetwork();
  // guest.json: what `berth ns-init` needs to make or join the guest and exec `argv`.
  void writeGuestFiles(const std::vector<std::string>& argv, const std::vector<NsGuestBind>& binds);
  std::shared_ptr<net::ChildProcess> spawnEngine();
  std::shared_ptr<net::ChildProcess> engineProcess() const;
  // "dockerd exited with status 1", "containerd was killed by signal 9"; "" while it runs.
  std::string exitOf(net::ChildProcess& engine) const;
  bool waitUntilAnswering(net::ChildProcess& engine, std::chrono::milliseconds limit,
                          const ProgressSink& progress);
  NsEngineLayout layout() const;
  std::string engineLog() const;  // <state>/dockerd.log, <state>/containerd.log
  // A machine shutdown: the runtime stops its engine (dockerd stops each container with its
  // stop signal and timeout), then whatever is left in the guest is killed.
  void killGuestProcesses(bool force);
  void removeCreatedMountPoints();
  void supervise();
  void setStatus(GuestState state, std::string detail);
  std::string allocateSubnet();

  ProfileConfig config_;
  ProfilePaths paths_;
  std::unique_ptr<Runtime> runtime_;
  std::vector<Share> shares_;
  std::string netns_;       // ip netns name
  std::string veth_host_;   // host end
  std::string veth_guest_;  // guest end before it is renamed eth0
  std::string engine_socket_;
  std::string exec_root_;  // dockerd's --exec-root (short runtime state)
  GuestCgroup cgroup_;     // cpus and memory of the whole guest

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  GuestStatus status_;
  std::string subnet_;  // "172.30.N"
  int engine_pid_ = 0;
  std::shared_ptr<net::ChildProcess>
      engine_process_;  // spawned or adopted; its pidfd tells its end
  bool stopping_ = false;
  std::thread supervisor_;
};

}  // namespace berth::vm
