#pragma once
// Forwarder: automatic port forwarding for one engine (DESIGN.md "Port forwarding"). start()
// watches the engine's events and keeps a host listener open for every port its running
// containers publish, relaying to that port at the guest address; stop() closes them all.
// status() is a JSON snapshot: engine state, active forwards, conflicts. Thread-safe: every
// method may be called from any thread; the work runs on one strand of the given executor.
#include <boost/asio/any_io_executor.hpp>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "forwarding/ForwardSpec.h"
#include "server/net/Connector.h"

namespace berth::fwd {

class ListenerFactory;

struct ForwarderOptions {
  BindMode bind = BindMode::Loopback;  // berth.yaml forwarding.bind
  bool udp = true;                     // berth.yaml forwarding.udp
  // Set when the driver opens host ports itself (qemu: QEMU's hostfwd, see
  // server/GuestForwardListeners.h): every forward is opened and closed through it instead of a
  // host relay to the guest address, which may then be empty.
  std::shared_ptr<ListenerFactory> listeners;
};

// Parses "loopback" / "mirror"; throws std::invalid_argument on anything else.
BindMode parseBindMode(const std::string& text);

class Forwarder {
 public:
  explicit Forwarder(boost::asio::any_io_executor io);
  ~Forwarder();  // stops; listeners close as soon as the executor runs the stop
  Forwarder(const Forwarder&) = delete;
  Forwarder& operator=(const Forwarder&) = delete;

  // Starts (or restarts, after a new boot) forwarding to `guest_address` (an IPv4/IPv6
  // literal: where the engine's published ports are reachable from the host).
  // Throws std::invalid_argument if the address is not an IP literal.
  void start(net::ConnectorPtr engine, const std::string& guest_address,
             ForwarderOptions options = {});
  void stop();

  // {"engine": "connected"|"connecting"|"unreachable"|"stopped", "guest": ..., "bind": ...,
  //  "forwards": [{proto, host, container, container_id, guest_port, container_port}],
  //  "conflicts": [{proto, host, container, container_id, guest_port, error}]}
  nlohmann::json status() const;
  // Runs (on the strand) after every change of status, e.g. to write a status file.
  void onChange(std::function<void(const nlohmann::json&)> callback);

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace berth::fwd
