#pragma once
// CniHostports: the host ports a guest's CNI portmap plugin maps to containers (a `hostPort`,
// nerdctl's `-p`), read from `iptables-save -t nat` text of the guest, as Lima's guest agent
// reads them. portmap writes one CNI-DN-<hash> chain per container, entered from
// CNI-HOSTPORT-DNAT (itself entered from PREROUTING and OUTPUT for local destinations), with one
// `-p PROTO ... [-d HOSTIP/32] ... --dport HOSTPORT -j DNAT --to-destination IP:PORT` rule per
// mapping. Only chains CNI-HOSTPORT-DNAT jumps to count (a left-over chain maps nothing).
// Pure parsing, no I/O; thread-safe.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace berth::fwd {

struct CniHostport {
  std::string protocol;  // "tcp", "udp" or "sctp", as the rule's -p says
  std::uint16_t port = 0;
  std::string host_ip;  // the rule's -d without its /32 prefix length; "" for any address
  // The rule's --to-destination as written ("10.88.0.5:80"): where portmap sends it. Not checked
  // here: whoever puts it in a command checks it first.
  std::string destination{};
  // A protocol berth forwards ("tcp", "udp"); nothing relays sctp.
  bool forwardable() const { return protocol == "tcp" || protocol == "udp"; }
  friend auto operator<=>(const CniHostport&, const CniHostport&) = default;
};

class CniHostports {
 public:
  // The mappings found in `iptables_save`, sorted, one per (protocol, port, host_ip): the one the
  // kernel uses (of the chain CNI-HOSTPORT-DNAT jumps to first). Lines that are not such rules
  // (other chains, comments, garbage, a negated or malformed match) are skipped.
  static std::vector<CniHostport> parse(std::string_view iptables_save);
};

}  // namespace berth::fwd
