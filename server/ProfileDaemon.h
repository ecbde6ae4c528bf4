#pragma once
// ProfileDaemon: the one startup path of every `berth daemon` (`--profile P`, and `--socket S
// --upstream U` with an external-engine driver). It holds the lock, serves the Docker API
// (RelayServer: unix socket, TCP+mTLS listeners) in front of a BootingConnector, runs the
// driver's blocking calls on a DriverThread, boots the guest now or on the first request
// (lazy), stops it when idle, forwards published ports, and answers the control API (status,
// boot, stop, and holds: a process that keeps idle stop off while it lives). It receives its
// Driver and never names a concrete one. Nothing that can wait (driver calls, QMP, HTTP to the
// engine) runs on its I/O thread. run() blocks; requestStop() and addStatusSection() are
// thread-safe.
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "forwarding/Forwarder.h"
#include "server/BootGate.h"
#include "server/DaemonSettings.h"
#include "server/GuestEventLog.h"
#include "server/net/Connector.h"
#include "server/net/IoPool.h"
#include "vm/Driver.h"
#include "vm/ProfileConfig.h"
#include "vm/ProfilePaths.h"

namespace berth::server {

class ByteRelayListener;
class ControlServer;
class DashboardServer;
class DomainsFront;
class DriverThread;
class EngineVersion;
class GuestForwardListeners;
class ProcessHolds;
class RelayServer;

class ProfileDaemon {
 public:
  ProfileDaemon(DaemonSettings settings, std::unique_ptr<vm::Driver> driver);
  ~ProfileDaemon();
  // A profile's daemon: its settings and the driver DriverFactory picks for its vmType.
  static std::unique_ptr<ProfileDaemon> forProfile(const vm::ProfilePaths& paths,
                                                   const vm::ProfileConfig& config);

  // Runs until stopped through the control API, requestStop() or SIGTERM/SIGINT; returns the
  // exit code. Throws std::runtime_error (one clear line) when it cannot start, e.g. another
  // daemon holds the lock or a socket cannot be bound; nothing is left behind then.
  int run();
  // Stops the guest and ends run(), as `berth stop` does; callable from any thread once run()
  // has started serving.
  void requestStop(bool force = false);
  // Adds a top-level key to `berth status --json` (e.g. "forwards", "listen"). The function
  // is called on an io thread for every status request and must be thread-safe.
  void addStatusSection(std::string key, std::function<nlohmann::json()> section);

 private:
  void acquireLock();
  void releaseLock();
  void bootOnWorker();
  void onGuestUp();
  // `for_now`: the guest stops until it is needed again (idle stop, the dashboard): wake ports
  // stay open and boot it.
  void onGuestDown(bool for_now);
  // Stops the guest; `action` ("stopping", "idle stop") and `why` go to the guest's events.
  void stopGuestOnWorker(const std::string& action, const std::string& why, bool force,
                         bool for_now = false);
  void handleControl(const std::string& method, const std::string& target,
                     const std::function<void(int, nlohmann::json)>& respond);
  nlohmann::json statusJson() const;
  // Whether the engine's version can be read now: a containerd guest that is up.
  bool engineVersionReadable() const;
  void scheduleIdleCheck();
  void idleCheck();
  void scheduleHandoverCheck();
  // Clients idle stop waits for: open relay and name connections, and live process holds.
  int clients() const;
  // POST /hold?pid=N: holds idle stop off until process N exits; 400 for a bad pid.
  void holdControl(const std::string& target,
                   const std::function<void(int, nlohmann::json)>& respond);
  int runningContainers() const;
  void shutdown(bool force, std::function<void()> after_guest_stopped);
  void noteActivity();
  std::string notReadyReason() const;
  // docker.sock's answer to every request on a profile whose runtime serves no Docker API.
  std::string noDockerApiMessage() const;

  void openListeners();
  // The names front (server/domains), when the profile has one; errors are logged, not thrown.
  void openDomains();
  nlohmann::json domainsOff() const;
  // Serves the dashboard (once; later calls return the same); its URL with the token. Blocking
  // file I/O: on the worker, or before run() serves. Throws std::runtime_error.
  std::string openDashboard();
  // The dashboard's guest actions: "start", "stop", "restart".
  void guestAction(const std::string& action,
                   const std::function<void(int, nlohmann::json)>& respond);

  DaemonSettings settings_;
  std::unique_ptr<vm::Driver> driver_;
  std::shared_ptr<GuestForwardListeners> port_opener_;  // when the driver opens ports itself
  std::unique_ptr<fwd::Forwarder> forwarder_;           // made at the first boot, kept across boots
  // One thread runs it (concurrency hint 1): a handler posted from that thread is queued
  // privately instead of waking the reactor (an epoll_ctl per post). Relay connections are
  // spread over it and the pool's other threads.
  boost::asio::io_context io_{1};
  // Before pool_: its threads read it until they are joined.
  net::SpinGate spin_gate_;
  std::unique_ptr<net::IoPool> pool_;  // the relay's I/O threads (settings_.io_threads)
  std::unique_ptr<DriverThread> worker_;
  std::unique_ptr<EngineVersion> engine_version_;  // runtime containerd: for the status
  std::shared_ptr<BootGate> gate_;
  std::unique_ptr<RelayServer> relay_;
  net::ConnectorPtr booting_;  // the guest's engine, booting it first when it is down
  std::unique_ptr<ByteRelayListener> containerd_relay_;  // runtime containerd: containerd.sock
  std::unique_ptr<ControlServer> control_;
  std::unique_ptr<RelayServer> page_relay_;     // the dashboard's engine calls (never boots)
  GuestEventLog guest_events_;                  // booting, up, stopping, ...: the page's feed
  std::unique_ptr<DashboardServer> dashboard_;  // set once (under mutex_), when asked for
  std::unique_ptr<DomainsFront> domains_;       // set before run() serves, or never
  std::string domains_off_;                     // why there is no front (set with domains_)
  std::string wake_off_;  // why berth.wake cannot work with this runtime ("" = it can); set once
  std::unique_ptr<boost::asio::steady_timer> idle_timer_;
  std::unique_ptr<boost::asio::steady_timer> handover_timer_;  // containerd.sock follows the engine
  std::unique_ptr<ProcessHolds> holds_;  // `berth ssh/ctr/nerdctl` processes (io_'s thread)
  int lock_fd_ = -1;
  std::atomic<bool> shutting_down_{false};
  std::atomic<int> connections_{0};
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();

  mutable std::mutex mutex_;  // guards the members below
  net::ConnectorPtr engine_;
  std::chrono::steady_clock::time_point last_activity_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point boot_started_;
  std::vector<std::string> progress_;  // lines of the boot in flight (or the last one)
  double last_boot_seconds_ = 0;
  int idle_stops_ = 0;
  std::map<std::string, std::function<nlohmann::json()>> sections_;
};

}  // namespace berth::server
