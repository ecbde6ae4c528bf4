#pragma once
// PortOpener: handed out by drivers whose guest is not reachable at a host-visible address
// (qemu user networking), so a published container port is opened on the host by the driver
// itself (QEMU's hostfwd) instead of by a host relay to guestAddress(). Driver::portOpener()
// returns it, or null when the host relays ports itself. Calls may block (QMP): the daemon
// makes them on a worker thread, never on an I/O thread. Thread-safe.
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
};

}  // namespace berth::vm
