#pragma once
// ProcNetTcp: the listening TCP sockets of a Linux socket table as /proc/net/tcp and tcp6 print
// it, for a guest whose netlink socket berth cannot open (a VM: the table comes over ssh, printed
// by GuestWatchScript's loop).
// Pure code, no I/O; thread-safe.
#include <string>
#include <string_view>
#include <vector>

#include "forwarding/SockDiag.h"

namespace berth::fwd {

class ProcNetTcp {
 public:
  // The sockets of `table` (rows of /proc/net/tcp or tcp6, header included or not, rows cut
  // after the state column allowed) in state LISTEN (0A), in table order, addresses written as
  // inet_ntop does ("0.0.0.0", "::1"). The header and malformed rows are skipped. The kernel
  // prints an address as 32-bit words in the guest's byte order: read as little-endian (x86-64
  // and aarch64 guests).
  static std::vector<ListeningSocket> listening(std::string_view table);
};

}  // namespace berth::fwd
