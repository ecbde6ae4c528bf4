#pragma once
// ForwardSpec: one host listener forwarding wants (proto, host address, host port) and where
// it relays to (the guest's published port, at the guest address or on the guest's loopback),
// with the container that asked for it. The plan turns the engine's published ports into
// specs: `loopback` binds 127.0.0.1 and ::1 whatever the container's HostIp, `mirror` binds the
// HostIp the engine used (0.0.0.0, ::, an address).
// Pure value code; thread-safe.
#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "api/PublishedPorts.h"

namespace berth::fwd {

enum class BindMode { Loopback, Mirror };

struct ForwardSpec {
  std::string proto;    // "tcp" / "udp"
  std::string bind_ip;  // host address to listen on
  std::uint16_t host_port = 0;
  std::uint16_t guest_port = 0;  // the engine's published port, reached at the guest address
  // "" normally; "127.0.0.1" / "::1" when the engine published the port on the guest's loopback
  // only (-p 127.0.0.1:P:80), which is reachable from inside the guest alone.
  std::string guest_loopback;
  // "" normally; with guest_loopback, for a CNI hostPort on that loopback host IP: the container's
  // IP:PORT portmap DNATs it to (ListeningSocket::destination), where the redirect goes instead.
  std::string guest_destination;
  std::uint16_t container_port = 0;
  std::string container_id;
  std::string container_name;

  // What identifies a listener on the host.
  std::tuple<std::string, std::string, std::uint16_t> key() const {
    return {proto, bind_ip, host_port};
  }
  std::string hostAddress() const;  // "127.0.0.1:18080", "[::1]:18080"
  // Where a connection reaching guest_port at the guest address is redirected in the guest (the
  // `to` of PortOpener::redirectToLoopback); "" when it is not.
  std::string guestRedirect() const {
    return guest_destination.empty() ? guest_loopback : guest_destination;
  }
  // Who wants it, for logs: the container's name, or "guest listener" (no container).
  std::string owner() const { return container_id.empty() ? "guest listener" : container_name; }
  friend bool operator==(const ForwardSpec&, const ForwardSpec&) = default;
};

struct PlanOptions {
  BindMode bind = BindMode::Loopback;
  bool udp = true;
  bool ipv6 = true;  // the host has an IPv6 loopback to bind
};

// One spec per host listener, sorted by key, without duplicates (an engine publishing a port on
// both 0.0.0.0 and :: yields one loopback pair). When two containers claim one host listener
// (only possible across HostIps in the guest), the first in engine order keeps it.
std::vector<ForwardSpec> planForwards(const std::vector<api::PublishedPort>& ports,
                                      const PlanOptions& options);

}  // namespace berth::fwd
