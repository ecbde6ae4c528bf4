#pragma once
// Listener: one open host listener of a forward (a TCP acceptor with its relayed connections,
// or a UDP socket with its flows). Destroying it closes the host port at once and ends its
// connections. ListenerFactory opens one synchronously, so a port already taken on the host is
// known at once. Both are used from the forwarder's control strand only.
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
};

}  // namespace berth::fwd
