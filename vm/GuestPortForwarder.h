#pragma once
// GuestPortForwarder: implemented by drivers whose guest is not reachable at a host-visible
// address (qemu user networking), so a published container port is opened on the host by the
// driver itself (QEMU's hostfwd) instead of by a host relay to guestAddress(). The forwarding
// engine asks `dynamic_cast<GuestPortForwarder*>(driver)` and, when non-null, calls these
// instead of opening its own listener. Thread-safe: calls may come from any thread.
#include <cstdint>
#include <string>

namespace berth::vm {

class GuestPortForwarder {
 public:
  virtual ~GuestPortForwarder() = default;
  // Makes host_ip:host_port (protocol "tcp" or "udp") reach guest_port on the guest's own
  // address. Returns "" on success, else one line saying why (e.g. the host port is taken).
  virtual std::string openForward(const std::string& protocol, const std::string& host_ip,
                                  std::uint16_t host_port, std::uint16_t guest_port) = 0;
  // Closes a forward opened by openForward; "" on success, else why not.
  virtual std::string closeForward(const std::string& protocol, const std::string& host_ip,
                                   std::uint16_t host_port) = 0;
};

}  // namespace berth::vm
