#pragma once
// ProcNetUdp: reads the kernel's UDP socket tables of a network namespace (/proc/PID/net/udp and
// udp6, as any process of that namespace sees them), to tell whether a port is bound there: a
// UDP server is ready for datagrams once it is (wake-on-connect waits for it; no connect can
// test a UDP port). Pure parsing plus one blocking /proc read; thread-safe.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace berth::fwd {

class ProcNetUdp {
 public:
  // True when a row of `table` (the text of /proc/net/udp or udp6) has local port `port` on an
  // address the forwarded datagrams can reach: any but loopback (127/8, ::1, ::ffff:127/104),
  // which only the container itself can reach. The header row and malformed rows are skipped.
  static bool bound(std::string_view table, std::uint16_t port);

  // Whether `port` is bound in the network namespace of process `pid` (both tables read); null
  // when neither table can be read (the process is gone, or not visible from here).
  static std::optional<bool> boundIn(int pid, std::uint16_t port);
};

}  // namespace berth::fwd
