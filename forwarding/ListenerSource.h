#pragma once
// ListenerSource: one way of learning the TCP ports listening in the guest (a port source,
// DESIGN.md "Port forwarding"): GuestListeners asks the kernel with sock_diag inside the guest's
// network namespace (ns), GuestShellListeners reads a guest-side loop's output over ssh (qemu).
// Either reports, after every poll, the listeners on a wildcard or loopback address it can
// reach, sorted by (port, address) and without duplicates; the forwarder's logic after that is
// the same for both. start(), stop() and the callbacks run on the forwarder's strand.
#include <functional>
#include <string>
#include <vector>

#include "forwarding/SockDiag.h"

namespace berth::fwd {

class ListenerSource {
 public:
  using OnPoll = std::function<void(const std::vector<ListeningSocket>&)>;
  virtual ~ListenerSource() = default;
  // Begins polling; false (and why in `error`) when it cannot begin at all.
  virtual bool start(std::string& error) = 0;
  // No callback runs after it.
  virtual void stop() = 0;
};

// Sorts `sockets` by (port, address) and drops duplicates: what OnPoll is given.
void sortListeners(std::vector<ListeningSocket>& sockets);

}  // namespace berth::fwd
