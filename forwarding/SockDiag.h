#pragma once
// SockDiag: the netlink sock_diag (NETLINK_SOCK_DIAG, inet_diag) messages that list a network
// namespace's listening TCP sockets: the dump request for one address family, and the parser
// of the kernel's reply, which may come in several datagrams. Pure code, no I/O; thread-safe.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace berth::fwd {

struct ListeningSocket {
  std::string address;  // as inet_ntop writes it: "0.0.0.0", "::", "127.0.0.1", "::1", ...
  std::uint16_t port = 0;
  // "" for a socket. A CNI hostPort on a loopback host IP, reported as a listener there: the
  // container's IP:PORT portmap DNATs it to, which a redirect from outside the guest must name.
  std::string destination{};
  // "tcp" for a socket (sock_diag lists TCP ones); a CNI hostPort's own: "tcp" or "udp".
  std::string protocol{"tcp"};
  friend bool operator==(const ListeningSocket&, const ListeningSocket&) = default;
};

class SockDiag {
 public:
  enum class Parse { More, Done, Error };

  // A SOCK_DIAG_BY_FAMILY dump request for TCP sockets in LISTEN of `family` (AF_INET or
  // AF_INET6), numbered `sequence`.
  static std::vector<char> listenRequest(int family, std::uint32_t sequence);

  // Adds the sockets of one reply datagram to `out`. More: the dump goes on in the next
  // datagram; Done: NLMSG_DONE came; Error: an NLMSG_ERROR or a malformed message (with the
  // reason in `error`). Messages of another sequence number are skipped.
  static Parse parse(const char* data, std::size_t length, std::uint32_t sequence,
                     std::vector<ListeningSocket>& out, std::string& error);

  // A listener reachable from the host side: on a wildcard address (0.0.0.0, ::) or a
  // loopback one (127.0.0.0/8, ::1). Listeners on one of the guest's own addresses are not.
  static bool wildcardOrLoopback(const std::string& address);
};

}  // namespace berth::fwd
