#pragma once
// Listener: one open host listener of a forward (a TCP acceptor with its relayed connections,
// or a UDP socket with its flows). Destroying it closes the host port at once and ends its
// connections. ListenerFactory opens one without blocking: berth's own listeners bind at once,
// so a port already taken is known from open(); a factory that must wait (a driver's port
// opener, on a worker thread) returns at once and reports a failure later through the handler
// the forwarder sets. A spec it can never open is known beforehand (refusal()). Both are used
// from the forwarder's control strand only.
#include <functional>
#include <memory>
#include <string>

#include "forwarding/ForwardSpec.h"

namespace berth::fwd {

class Listener {
 public:
  virtual ~Listener() = default;
};

class ListenerFactory {
 public:
  virtual ~ListenerFactory() = default;
  // Opens the host side of `spec`; on failure returns null and says why in `error`.
  virtual std::unique_ptr<Listener> open(const ForwardSpec& spec, std::string& error) = 0;

  // A listener that open() returned but that could not be opened after all; may be called on
  // any thread. The forwarder turns it into a conflict (retried like any other).
  using Failed = std::function<void(const ForwardSpec& spec, const std::string& error)>;
  // By value: implementations keep it (std::move); this default has no failures to report.
  // NOLINTNEXTLINE(performance-unnecessary-value-param)
  virtual void setFailureHandler(Failed /*failed*/) {}

  // False when it can open IPv4 host addresses only: the forwarder then plans no IPv6 one.
  virtual bool opensIpv6() const { return true; }
  // "" when open() may succeed for `spec`, else why it never can (e.g. a guest port on a
  // loopback address the factory cannot reach): the forwarder lists it once, not as a conflict
  // retried every second. Answered at once.
  virtual std::string refusal(const ForwardSpec& /*spec*/) const { return {}; }
};

}  // namespace berth::fwd
