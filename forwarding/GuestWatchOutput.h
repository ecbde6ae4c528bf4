#pragma once
// GuestWatchOutput: what GuestWatchScript's loop prints, read line by line into the guest's
// listeners as GuestShellListeners reports them: the LISTEN rows of its last socket table
// (ProcNetTcp) and the TCP and UDP hostPorts of its last nat table (CniHostports). One on any host
// IP is reported as a 0.0.0.0 listener: QEMU's hostfwd delivers to the guest's address, where
// portmap's PREROUTING DNAT takes it to the container. One on a loopback host IP (127.0.0.1),
// which portmap DNATs only for the guest's own connections (OUTPUT), is reported as a listener
// on that address with the container's IP:PORT as its destination: the redirect that reaches a
// loopback listener from outside must go there (ListeningSocket::destination). Other host IPs
// are not reported. Then, as Filter says: without the guest's own services'
// ports, and without listeners that are neither a wildcard nor a loopback address (and loopback
// ones too unless Filter::loopback). Nothing is reported before the first socket table after
// reset(): a nat table alone is not the guest's listeners. A line that is neither a row, a rule
// nor an end line is kept as message() (an ssh error, say). Pure code, no I/O; not thread-safe.
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "forwarding/CniHostports.h"
#include "forwarding/SockDiag.h"

namespace berth::fwd {

class GuestWatchOutput {
 public:
  struct Filter {
    std::set<std::uint16_t> own_ports;  // the guest's own services (sshd, the engine): skipped
    bool loopback = false;              // report listeners on the guest's loopback only too
  };
  // Past this many bytes of rows or rules without an end line, the rest is dropped.
  static constexpr std::size_t kMaxTable = std::size_t{1} << 20;

  explicit GuestWatchOutput(Filter filter) : filter_(std::move(filter)) {}

  // One line of the output, without its newline. True when it ended a table and a socket table
  // has come since reset(): listeners() is the guest's listeners now (changed or not).
  bool line(std::string_view line);
  // Sorted, without duplicates.
  const std::vector<ListeningSocket>& listeners() const { return listeners_; }
  // The last line that was neither a row, a rule nor an end line; "" once a table ended.
  const std::string& message() const { return message_; }
  // Forgets all (a new run of the loop prints everything anew).
  void reset();

 private:
  void merge();

  Filter filter_;
  std::string rows_;   // socket rows since the last end line
  std::string rules_;  // nat rules since the last end line
  std::vector<ListeningSocket> sockets_;
  std::vector<CniHostport> hostports_;
  bool sockets_seen_ = false;
  std::vector<ListeningSocket> listeners_;
  std::string message_;
};

}  // namespace berth::fwd
