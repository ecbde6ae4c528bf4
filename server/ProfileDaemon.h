#pragma once
// ProfileDaemon: `berth daemon --profile P`, the background process of one profile. It holds
// the profile's lock, serves the Docker API on docker.sock (RelayServer) in front of a
// BootingConnector, runs the driver's blocking calls on a DriverThread, boots the guest now or
// on the first request (--lazy), stops it when idle (--idle-stop), and answers the control API
// on control.sock (status, boot, stop). This class is the one place where a profile's pieces
// are wired together: port forwarding, TLS listeners and other per-profile services plug in
// here (see the "Wiring points" comments in ProfileDaemon.cc). run() blocks; other methods
// are for before run().
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
#include "server/net/Connector.h"
#include "vm/Driver.h"
#include "vm/ProfileConfig.h"
#include "vm/ProfilePaths.h"

namespace berth::server {

class ControlServer;
class DriverThread;
class RelayServer;

class ProfileDaemon {
 public:
  ProfileDaemon(vm::ProfilePaths paths, vm::ProfileConfig config);
  ~ProfileDaemon();

  // Runs until stopped through the control API or by SIGTERM/SIGINT; returns the exit code.
  // Throws std::runtime_error (one clear line) when it cannot start, e.g. another daemon
  // holds the profile's lock.
  int run();
  // Adds a top-level key to `berth status --json` (e.g. "forwards", "listen"). The function
  // is called on an io thread for every status request and must be thread-safe.
  void addStatusSection(std::string key, std::function<nlohmann::json()> section);

 private:
  void acquireLock();
  void releaseLock();
  void bootOnWorker();
  void onGuestUp();
  void onGuestDown();
  void stopGuestOnWorker(bool force);
  void handleControl(const std::string& method, const std::string& target,
                     std::function<void(int, nlohmann::json)> respond);
  nlohmann::json statusJson() const;
  void scheduleIdleCheck();
  void idleCheck();
  int runningContainers() const;
  void shutdown(bool force, std::function<void()> after_guest_stopped);
  void noteActivity();
  std::string notReadyReason() const;

  vm::ProfilePaths paths_;
  vm::ProfileConfig config_;
  std::unique_ptr<vm::Driver> driver_;
  std::unique_ptr<fwd::Forwarder> forwarder_;  // made at the first boot, kept across boots
  boost::asio::io_context io_;
  std::unique_ptr<DriverThread> worker_;
  std::shared_ptr<BootGate> gate_;
  std::unique_ptr<RelayServer> relay_;
  std::unique_ptr<ControlServer> control_;
  std::unique_ptr<boost::asio::steady_timer> idle_timer_;
  long long idle_stop_ms_ = 0;
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
