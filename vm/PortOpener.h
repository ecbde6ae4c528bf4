#pragma once
// PortOpener: handed out by drivers whose guest is not reachable at a host-visible address
// (qemu user networking), so a published container port is opened on the host by the driver
// itself (QEMU's hostfwd) instead of by a host relay to guestAddress(). Driver::portOpener()
// returns it, or null when the host relays ports itself. Calls may block (QMP, ssh): the daemon
// makes them on a worker thread, never on an I/O thread; refusal() and opensIpv6() do not block.
// Thread-safe.
#include <cstdint>
#include <string>

namespace berth::vm {

class PortOpener {
 public:
  virtual ~PortOpener() = default;
  // Makes host_ip:host_port (protocol "tcp" or "udp") reach guest_port on the guest's own
  // address. Returns "" on success, else one line saying why (e.g. the host port is taken).
  virtual std::string openForward(const std::string& protocol, const std::string& host_ip,
                                  std::uint16_t host_port, std::uint16_t guest_port) = 0;
  // Closes a forward opened by openForward; "" on success, else why not.
  virtual std::string closeForward(const std::string& protocol, const std::string& host_ip,
                                   std::uint16_t host_port) = 0;

  // False when it opens IPv4 host addresses only (QEMU's user network): no IPv6 forward is
  // planned then, rather than one that fails at every retry.
  virtual bool opensIpv6() const { return false; }
  // "" when redirectToLoopback can serve a TCP port that listens on `guest_loopback` only (a
  // loopback address of the guest), else why not; answered at once, without the guest.
  virtual std::string loopbackRefusal(const std::string& guest_loopback) const {
    return "the driver's forwards reach the guest's own address, not its loopback " +
           guest_loopback;
  }
  // Makes TCP connections that reach guest_port at the guest's own address (where
  // openForward's forwards arrive) go to `to` inside the guest: a loopback address of the guest
  // (to:guest_port), or IPv4:PORT, the container a CNI hostPort on a loopback host IP is DNATed
  // to (ForwardSpec::guestRedirect()). Nests: each successful call is undone by one
  // unredirectFromLoopback with the same `to`. "" on success, else why not.
  virtual std::string redirectToLoopback(std::uint16_t guest_port, const std::string& to) {
    return loopbackRefusal(to) + " (guest port " + std::to_string(guest_port) + ")";
  }
  // Undoes one redirectToLoopback; "" on success (or when the guest is gone), else why not.
  virtual std::string unredirectFromLoopback(std::uint16_t /*guest_port*/,
                                             const std::string& /*to*/) {
    return "";
  }
};

}  // namespace berth::vm
