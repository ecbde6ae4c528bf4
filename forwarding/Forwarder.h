#pragma once
// Forwarder: automatic port forwarding for one engine (DESIGN.md "Port forwarding"). start()
// watches the engine's events and keeps a host listener open for every port its running
// containers publish, and for every TCP port listening in the guest's network namespace that
// no container publishes (a ListenerSource: host-network containers, services), relaying to that
// port at the guest address (or, for TCP on 127.0.0.1, having the kernel DNAT it there:
// KernelPath.h); stop() closes them all. A host port it cannot open is a conflict, retried every
// second until it opens; a forward that can never open (a guest address the driver cannot reach,
// ListenerFactory::refusal) is listed once as refused instead. Containers labelled berth.wake=true
// keep their fixed host ports while stopped and are started by the first connection (WakeGate,
// WakeController; README "Wake on first connection"). status() is a JSON snapshot: engine state,
// active forwards, conflicts. An engine without the Docker API (containerd) has only the guest's
// listeners (ForwarderOptions::docker_api). Thread-safe: every method but the destructor may be
// called from any thread; the work runs on one strand of the given executor.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/address.hpp>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "forwarding/ForwardSpec.h"
#include "forwarding/WakeController.h"
#include "server/net/Connector.h"

namespace berth::fwd {

class ListenerFactory;

struct ForwarderOptions {
  BindMode bind = BindMode::Loopback;  // berth.yaml forwarding.bind
  bool udp = true;                     // berth.yaml forwarding.udp
  // The engine speaks the Docker API: its events name the containers' published ports, and a
  // guest listener counts once the engine listed its containers and two polls saw it (its
  // docker-proxy listens a moment before the port is listed). False for an engine without it
  // (containerd): the guest's listeners are the only source, polled every 250 ms and forwarded
  // at first sight, and `engine` is not called.
  bool docker_api = true;
  // Set when the driver opens host ports itself (qemu: QEMU's hostfwd, see
  // server/GuestForwardListeners.h): every forward is opened and closed through it instead of a
  // host relay to the guest address, which may then be empty.
  std::shared_ptr<ListenerFactory> listeners;
  // The guest's network namespace file (ns driver), entered to reach ports the engine
  // published on the guest's loopback only; "" refuses those with a clear error.
  std::string guest_netns;
  // For a guest with no namespace to enter (qemu): the argv that runs a shell script in the
  // guest (over ssh), which reads the guest's listening sockets (GuestShellListeners). May throw
  // std::exception (e.g. the guest is not running): guest listeners are then off, saying why.
  std::function<std::vector<std::string>(const std::string& script)> guest_shell;
  // Guest ports of the guest's own services (sshd, the engine's TCP port): never forwarded as
  // guest listeners (read with guest_shell).
  std::set<std::uint16_t> guest_own_ports;
  // Names the nftables table that carries TCP forwards on 127.0.0.1 in the kernel
  // (LoopbackNat.h); "" relays every connection through berth. Unused with `listeners`.
  std::string nat;
  // Boots the guest when it is down and hands over its engine (the daemon's boot gate). With
  // it, sleep() keeps the ports of `berth.wake=true` containers open while the guest is
  // stopped, and a connection to one boots the guest, then wakes the container.
  WakeController::EngineSource boot;
};

// A start's hold on the host ports its container will publish (Forwarder::claimForStart).
// finish() says whether the engine started the container: if not, the ports are released at
// once; if so, the forwards its start event opens take them over. Dropping a claim unfinished
// counts as "may have started". Thread-safe.
class PortClaim {
 public:
  virtual ~PortClaim() = default;
  virtual void finish(bool started) = 0;
};

struct StartClaim {
  // Docker's own words when a host port cannot be had ("driver failed programming external
  // connectivity on endpoint ..."): the start must be refused with them. "" otherwise.
  std::string refusal;
  std::shared_ptr<PortClaim> claim;  // null when nothing is held
};

// Parses "loopback" / "mirror"; throws std::invalid_argument on anything else.
BindMode parseBindMode(const std::string& text);

class Forwarder {
 public:
  explicit Forwarder(boost::asio::any_io_executor io);
  // Closes every listener before it returns. Destroy it from its strand or once the executor
  // no longer runs (after io_context::run returned), like an Asio socket.
  ~Forwarder();
  Forwarder(const Forwarder&) = delete;
  Forwarder& operator=(const Forwarder&) = delete;

  // Starts (or restarts, after a new boot) forwarding to `guest_address` (an IPv4/IPv6
  // literal: where the engine's published ports are reachable from the host).
  // Throws std::invalid_argument if the address is not an IP literal, or is loopback while
  // the forwarder opens host ports itself (they would relay to themselves).
  void start(net::ConnectorPtr engine, const std::string& guest_address,
             ForwarderOptions options = {});
  // What start() refuses, checked alone: throws std::invalid_argument with one clear line.
  static boost::asio::ip::address checkGuestAddress(const std::string& guest_address,
                                                    bool driver_opens_ports);
  void stop();
  // stop() for a guest that stops until it is needed again (idle stop): with options.boot, the
  // ports of wake containers stay open (asleep) and a connection to one boots the guest.
  void sleep();

  // Before `POST /containers/{container}/start` goes to the engine: reads the container's
  // fixed host ports (HostConfig.PortBindings) and binds the host listeners their forwards
  // will use, so a port another program holds refuses the start (StartClaim::refusal), as
  // Docker does on its own host, and no one takes it meanwhile. Engine-chosen ports (`-P`)
  // are not known before the start and are not claimed. With a driver that opens ports itself
  // (qemu) the ports are only test-bound. `done` runs on the forwarder's strand, never inline;
  // when the engine cannot say (unreachable, no such container, already running) it gets an
  // empty claim and the engine answers the start as it will.
  void claimForStart(const std::string& container, std::function<void(StartClaim)> done);

  // A connection to `container` (ID) that came another way than its forwards (the names
  // front): while the returned hold lives, it counts as one of the container's connections, so
  // its berth.idle does not stop it, and its idle time restarts when the hold is dropped. For a
  // container that is not berth.wake=true, the hold does nothing.
  std::shared_ptr<void> holdAwake(const std::string& container);

  // {"engine": "connected"|"connecting"|"unreachable"|"stopped"|"no Docker API", "guest": ...,
  //  "bind": ...,
  //  "nat": "kernel DNAT (table T via DEV)" | "off" | "off: <why>",
  //  "guestListeners": "on" | "on (...)" | "off" | "off: <why>",
  //  "forwards": [{proto, host, container, containerId, guestPort, containerPort,
  //                guestLoopback, origin: "container"|"guest listener",
  //                path: "kernel"|"relay"}],
  //  "conflicts": [{proto, host, container, containerId, guestPort, containerPort, error}],
  //  "refused": [same as conflicts: never opened nor retried],
  //  "wakeProblems": [{container, containerId, problem}]}: berth.wake=true containers that
  //  cannot wake (no fixed host port), with the fix.
  nlohmann::json status() const;
  // True while a berth.wake container is being woken (a forward's "wake" is "waking").
  bool waking() const;
  // Runs (on the strand) after every change of status, e.g. to write a status file.
  void onChange(std::function<void(const nlohmann::json&)> callback);

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace berth::fwd
