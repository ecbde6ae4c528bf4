#pragma once
// WakeController: wakes a stopped container on demand (issue 18), for anything that holds a
// connection for it (the forwards of `berth.wake=true` containers, a Host-routed HTTP front).
// wake() asks the engine to start the container (POST /containers/{id}/start; one already
// running is fine), then connects to `probe` (its port, as the host reaches it) until a
// connect succeeds (and, with Target::settle, is not closed within it), or, for a UDP port, waits
// until the container has bound it in its own network namespace (ProcNetUdp of the engine's
// State.Pid), and calls `done` once: with "" when the port is ready, else with one line saying why
// not (the engine refused the start, the port was not ready within the timeout, stop()). Wakes of
// one container and probe that overlap share one start and one probe. Thread-safe: wake() and
// stop() may be called from any thread; `done` runs on the strand given to create(), never inline.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "server/net/Connector.h"

namespace berth::fwd {

class GuestNetns;

class WakeController {
 public:
  struct Target {
    std::string container;  // ID or name, as the engine takes it
    std::string name;       // for log lines ("" = `container`)
    // Where the container's port answers from the host (the guest address and published port);
    // port 0: no connect (UDP, which no connect can test; the names front, which routes once the
    // engine lists it running).
    boost::asio::ip::tcp::endpoint probe;
    // UDP: the container's own port, waited for until it is bound in the container's network
    // namespace; 0 waits for the start alone. Where /proc does not show the engine's process
    // (another PID namespace), the start alone is waited for, and the log says so.
    std::uint16_t udp_port = 0;
    std::shared_ptr<const GuestNetns> netns;  // probe from inside the guest (its loopback)
    // For a probe through a forward that accepts before the far end does (QEMU's user network
    // accepts the host side at once, then connects to the guest, and closes the host side when
    // the guest refuses, within ms mostly but up to ~180 ms seen under load): a connect counts
    // once it saw no end within `settle`, twice in a row (one late close alone does not fool
    // it); bytes the far end sends first count at once. 0: a connect counts at once.
    std::chrono::milliseconds settle{0};
    std::chrono::milliseconds timeout{30'000};
  };
  using Done = std::function<void(const std::string& error)>;
  // Hands over the engine to call, booting the guest first when it is down; the connector is
  // null, with the reason, when there is none. May call back on any thread.
  using EngineSource =
      std::function<void(std::function<void(const std::string& error, net::ConnectorPtr engine)>)>;

  // `engine` reaches the engine directly (not through a booting relay).
  static std::shared_ptr<WakeController> create(boost::asio::any_io_executor strand,
                                                net::ConnectorPtr engine);
  static std::shared_ptr<WakeController> create(boost::asio::any_io_executor strand,
                                                EngineSource engine);
  virtual ~WakeController() = default;

  virtual void wake(Target target, Done done) = 0;
  // Asks the engine to stop `container` (POST /containers/{id}/stop with its own stop timeout);
  // `done` gets "" or the engine's reason, on the strand.
  virtual void stopContainer(const std::string& container, Done done) = 0;
  // Fails every wake in flight ("forwarding stopped") and refuses new ones.
  virtual void stop() = 0;
};

}  // namespace berth::fwd
