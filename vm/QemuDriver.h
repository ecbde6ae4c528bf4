#pragma once
// QemuDriver: runs a profile's guest as a QEMU VM (KVM/HVF when usable, TCG otherwise) with a
// qcow2 overlay on the cached guest image, 9p (or virtiofs) shares, user networking that
// forwards ssh and dockerd's TLS port to host loopback, and QMP for control. The runtime
// decides the engine: dockerd, reached over mutual TLS; or containerd, whose API socket in the
// guest is forwarded to a host socket over the profile's ssh (containerd's own TCP listener
// serves only the CRI plugin, none of the services ctr and nerdctl use). Fast start: a
// graceful stop saves the VM state into the overlay (savevm) and the next start resumes it
// (-loadvm) when nothing that shapes the machine changed; otherwise, or when resuming fails,
// it boots. A QEMU left running by a daemon that was killed is adopted by start() (its pid
// file, command line, QMP and engine check out) or else stopped before a boot; stop() finds
// one too. Contract and threading: see vm::Driver (status() and the port forwards may be
// called from any thread; start/stop are serialised by the caller).
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "server/net/ChildProcess.h"
#include "vm/Driver.h"
#include "vm/GuestLoopbackDnat.h"
#include "vm/GuestSocksDialer.h"
#include "vm/QemuBootRecord.h"
#include "vm/QemuCommandLine.h"
#include "vm/Runtime.h"
#include "vm/SshSocketForward.h"

namespace berth::vm {

struct QemuOptions {
  std::string profile = "default";
  std::string state_dir;   // <profile dir>/qemu: overlay, keys, sockets, logs
  std::string disk_image;  // --disk-image; "" = newest build in the image cache
  std::string arch = "x86_64";
  std::string accel = "auto";  // auto | kvm | hvf | tcg
  int cpus = 2;
  int memory_mib = 2048;
  int disk_gib = 20;
  std::vector<Share> shares;
  std::string mount_type = "9p";  // 9p | virtiofs (virtiofs needs virtiofsd; else 9p is used)
  std::vector<std::string> dns;
  nlohmann::json docker = nlohmann::json::object();
  std::map<std::string, std::string> env;
  std::string runtime = "docker";      // docker | containerd
  std::string containerd_user_config;  // the profile's containerd/config.toml (when it exists)
  std::string nerdctl_binary;  // nerdctl.binary: copied to ContainerdRuntime::kVmNerdctl at boot
  bool resume = true;          // save the VM state on stop and resume it on the next start
  std::chrono::seconds boot_timeout{0};  // 0: 600 s under TCG, 180 s with a hypervisor
  std::chrono::seconds stop_timeout{60};
};

class ProfileConfig;
class ProfilePaths;

class QemuDriver : public Driver, public PortOpener {
 public:
  explicit QemuDriver(QemuOptions options);
  // The driver's options for a profile (state in paths.state_dir); the image folder as
  // GuestImage::folderFor decides. Env: BERTH_QEMU_BOOT_TIMEOUT (seconds).
  static QemuOptions optionsFor(const ProfileConfig& config, const ProfilePaths& paths);
  ~QemuDriver() override;

  std::string name() const override { return "qemu"; }
  void start(const ProgressSink& progress) override;
  void stop(bool force) override;
  GuestStatus status() const override;
  EngineEndpoint engine() const override;
  std::string guestAddress() const override { return ""; }  // ports forwarded by QEMU
  std::vector<Share> shares() const override { return options_.shares; }
  std::string guestEngineSocket() const override;
  const Runtime& runtime() const override { return *runtime_; }
  // sshd (22) and dockerd's TLS port (QemuCommandLine::kGuestEnginePort).
  std::vector<std::uint16_t> guestServicePorts() const override;
  PortOpener* portOpener() override { return this; }
  // Container addresses over the profile's ssh (GuestSocksDialer); null for containerd, whose
  // containers have no names front.
  GuestDialer* guestDialer() override { return dialer_.get(); }
  // `ssh` into the guest; the port comes from the state dir (a guest run by another process).
  std::vector<std::string> shellArgv(const std::vector<std::string>& command,
                                     bool tty) const override;
  // ssh runs its command through the guest's shell: each word is quoted for it.
  std::vector<std::string> execArgv(const std::vector<std::string>& words, bool tty) const override;
  std::string sshConfig() const override;
  // A QEMU of this profile runs with no daemon (its pid file and command line say so).
  bool orphanRunning() const override;

  std::string openForward(const std::string& protocol, const std::string& host_ip,
                          std::uint16_t host_port, std::uint16_t guest_port) override;
  std::string closeForward(const std::string& protocol, const std::string& host_ip,
                           std::uint16_t host_port) override;
  // A port on the guest's 127.0.0.1 only (or a CNI hostPort there: to its container): a DNAT in
  // the guest from kGuestAddress, where hostfwd delivers (GuestLoopbackDnat, applied over ssh);
  // [::1] cannot be reached from IPv4.
  std::string loopbackRefusal(const std::string& guest_loopback) const override;
  std::string redirectToLoopback(std::uint16_t guest_port, const std::string& to) override;
  std::string unredirectFromLoopback(std::uint16_t guest_port, const std::string& to) override;

  // `ssh` argv that runs `command` in this running guest as root (a shell when empty).
  std::vector<std::string> sshArgv(const std::vector<std::string>& command, bool tty) const;
  // True when the CPU offers VT-x/AMD-V to this host (KVM can run a stock guest kernel).
  static bool hardwareVirtualization();
  // Accelerator that "auto" resolves to on this host: kvm (VT-x/AMD-V and /dev/kvm), hvf on
  // macOS, else tcg; $BERTH_QEMU_ACCEL overrides.
  static std::string detectAccel();

 private:
  struct Ports {
    std::uint16_t ssh = 0, engine = 0;
  };
  std::string qemuBinary() const { return "qemu-system-" + options_.arch; }
  // Digest of the options that shape the running machine: a guest made from other ones is not
  // adopted (the profile's settings changed while no daemon ran).
  std::string settingsKey() const;
  // start(): adopts the QEMU a killed daemon left running (true), or stops it (false).
  bool adoptOrphan(const ProgressSink& progress);
  // Why the orphan just taken cannot be adopted, or "" once it is (engine, shares, forwards).
  std::string adopt(const std::optional<QemuBootRecord>& record, const ProgressSink& progress);
  // Takes `qemu` as this driver's QEMU, with what its record says about it.
  std::optional<QemuBootRecord> takeOrphan(net::ChildProcess qemu);
  // QMP's run state ("running", "paused", ...); throws DriverError when QMP does not answer.
  std::string runState();
  // Removes the host forwards other than ssh's and the engine's; how many it removed.
  int removeStaleForwards();
  // QMP quit, then TERM and KILL with grace (it has ended on return): for a QEMU whose guest
  // cannot shut itself down.
  void quitQemu();
  void prepare(const ProgressSink& progress);
  void ensureKeys();
  void ensureOverlay(const ProgressSink& progress);
  void pickPorts();
  std::string stateKey(const QemuLaunchSpec& spec) const;
  void boot(const ProgressSink& progress, bool resume);
  void launch(const std::vector<std::string>& argv);
  void waitEngine(std::chrono::steady_clock::time_point t0, std::chrono::seconds timeout,
                  const ProgressSink& progress);
  // One real answer from the engine within `timeout` (containerd: through its ssh forward,
  // started first when it does not run); on false, `error` says why.
  bool engineAnswers(std::chrono::milliseconds timeout, std::string& error);
  // Asks engineAnswers() until it holds (true), the deadline, or keep_waiting() says false
  // (asked before every attempt; it may report progress or throw).
  bool waitAnswering(std::chrono::steady_clock::time_point deadline,
                     const std::function<bool()>& keep_waiting, std::string& error);
  void reportPhases(std::chrono::steady_clock::time_point t0, double engine_s,
                    const ProgressSink& progress) const;
  bool saveState();
  // Over ssh: mounts the shares that are not mounted and sets the guest's clock to the host's
  // (after a resume, a failed save, an adoption).
  net::RunResult remountShares() const;
  // nerdctl.binary at ContainerdRuntime::kVmNerdctl, copied over ssh when the guest's differs;
  // berth's earlier copy is removed once the setting is gone. Throws DriverError.
  void syncNerdctl(const ProgressSink& progress);
  // What the guest's engine is reached by, for the status detail (only the runtime's own).
  std::string endpointText() const;
  bool waitExit(std::chrono::milliseconds timeout);
  void killQemu();
  void cleanupRuntimeFiles();
  std::vector<std::string> startVirtiofsd();
  void stopVirtiofsd();
  std::string hmp(const std::string& command_line, std::chrono::seconds timeout);
  bool qemuAlive() const;
  std::shared_ptr<net::ChildProcess> process() const;
  // "exited with status 1", "was killed by signal 9" (or "runs").
  static std::string exitOf(const std::shared_ptr<net::ChildProcess>& qemu);
  std::string lastLines(const std::string& path, int lines) const;
  std::string path(const std::string& name) const;

  QemuOptions options_;
  std::unique_ptr<Runtime> runtime_;
  std::unique_ptr<SshSocketForward> containerd_forward_;  // the containerd runtime's API
  std::unique_ptr<GuestSocksDialer> dialer_;              // container addresses (names front)
  std::string accel_;
  std::string image_dir_, kernel_, initrd_, recipe_;
  std::vector<std::string> argv_;
  std::string state_key_;      // what a state saved by this boot's stop() will be valid for
  std::string phase_summary_;  // " name=seconds" per boot phase seen, host clock
  std::string virtiofsd_;      // its path when this boot shares with virtiofs, else ""
  std::vector<net::ChildProcess> virtiofsd_processes_;  // one per share
  Ports ports_;

  mutable std::mutex mutex_;  // guards everything below
  GuestState state_ = GuestState::Stopped;
  std::string detail_;
  std::shared_ptr<net::ChildProcess> qemu_;  // the running QEMU (its pidfd tells when it ends)
  std::mutex qmp_mutex_;                     // QEMU serves one QMP client at a time

  // Runs loopback_dnat_'s pending script in the guest; "" when it ran or none was needed.
  std::string applyLoopbackRedirects();
  std::mutex loopback_mutex_;  // guards loopback_dnat_ (and orders its runs)
  GuestLoopbackDnat loopback_dnat_{QemuCommandLine::kGuestAddress};
};

}  // namespace berth::vm
