#pragma once
// WakeGate: one `berth.wake=true` container as its host listeners see it (TcpForward,
// UdpForward). admit() lets a new connection through at once while the container runs and no
// wake is in flight; otherwise it wakes the container (WakeController) and calls back when the
// port accepts or the wake failed, so every connection that arrives meanwhile waits for the same
// wake. It also counts the container's relayed connections and their last activity, for
// `berth.idle`. Thread-safe (one mutex, never held while calling out).
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "forwarding/WakeController.h"
#include "forwarding/WakeLabels.h"

namespace berth::fwd {

class WakeGate : public std::enable_shared_from_this<WakeGate> {
 public:
  using Clock = std::chrono::steady_clock;
  enum class State { Asleep, Waking, Awake };
  using Ready = std::function<void(const std::string& error)>;

  // `on_change` runs (on the controller's strand or the caller's thread) whenever state()
  // changes, e.g. to republish status and the kernel path.
  WakeGate(std::string container_id, std::string name, WakeLabels labels,
           std::shared_ptr<WakeController> controller, std::function<void()> on_change);

  // True: relay now. False: `ready` runs later with "" (relay) or why the wake failed (reset
  // the client). `probe` is the guest port the listener relays to (port 0: UDP, start only);
  // `settle` as WakeController::Target::settle (a probe through QEMU's user network).
  bool admit(const boost::asio::ip::tcp::endpoint& probe, std::shared_ptr<const GuestNetns> netns,
             Ready ready, std::chrono::milliseconds settle = std::chrono::milliseconds(0));
  // admit() for datagrams, which no connect can test: a wake is ready once the container bound
  // `container_port` in its own network namespace (0: once it started).
  bool admitDatagrams(std::uint16_t container_port, Ready ready);
  void opened();   // a relayed connection began
  void closed();   // ... and ended
  void touched();  // traffic without a connection (UDP datagrams)

  // The engine's view (start / die events, container lists).
  void setRunning(bool running);
  State state() const;
  // Running, no wake in flight, no idle stop to time: the kernel may carry its connections.
  bool kernelMayCarry() const;
  // True when the container has run `labels.idle` with no connection and no traffic; the
  // caller stops it. Asks once per run: not again before the container started anew.
  bool idleExpired(Clock::time_point now);

  const std::string& id() const { return id_; }
  const std::string& name() const { return name_; }
  const WakeLabels& labels() const { return labels_; }

 private:
  bool wakeFor(WakeController::Target target, Ready ready);

  const std::string id_;
  const std::string name_;
  const WakeLabels labels_;
  const std::shared_ptr<WakeController> controller_;
  const std::function<void()> on_change_;
  mutable std::mutex mutex_;
  bool running_ = false;
  int waking_ = 0;           // wakes in flight
  int connections_ = 0;      // relayed connections open
  bool stop_asked_ = false;  // idleExpired() said so during this run
  Clock::time_point last_activity_ = Clock::now();
};

}  // namespace berth::fwd
