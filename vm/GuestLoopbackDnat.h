#pragma once
// GuestLoopbackDnat: the redirects that make a port listening on the guest's IPv4 loopback only
// (127.0.0.1:P) reachable at the guest's own address, where QEMU's hostfwd delivers (10.0.2.15:P),
// and the bash script that makes the guest's nat table hold exactly them: a DNAT per port in
// berth's own chain (kChain, jumped to first from PREROUTING), matching only connections that
// enter on the interface holding the guest address, and route_localnet on that interface
// (the kernel drops packets to 127/8 from outside otherwise; set back to 0 once no redirect is
// left). iptables-restore replaces the whole chain in one exec: the script is idempotent, so a
// run that failed or a guest that rebooted is mended by the next one. [::1] cannot be reached
// this way (IPv4 in, IPv6 out): redirectable() says so. Counts nest: two forwards of one port add
// twice and the port stays until both removed it.
// A CNI hostPort on host IP 127.0.0.1 has no loopback listener to redirect to: portmap DNATs
// 127.0.0.1:P to its container in OUTPUT, for the guest's own connections, and a DNAT done here
// in PREROUTING ends the nat table's walk for its connection, so a redirect to 127.0.0.1:P would
// never meet portmap's rule. Its redirect goes straight to the container's IP:PORT instead (the
// rule's --to-destination), the place portmap itself sends it: a redirect's target is a loopback
// address (the port stays) or IPv4:PORT. Pure code; not thread-safe.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>

namespace berth::vm {

class GuestLoopbackDnat {
 public:
  static constexpr const char* kChain = "BERTH-LOOPBACK";
  // Guest port -> where its redirect goes: the loopback address its listener holds (the lowest
  // one when several do), or a CNI hostPort's container IPv4:PORT.
  using Table = std::map<std::uint16_t, std::string>;

  explicit GuestLoopbackDnat(std::string guest_address)
      : guest_address_(std::move(guest_address)) {}

  // "" when `to` can be redirected to (an IPv4 address in 127.0.0.0/8, or IPv4:PORT with a port
  // in 1-65535), else why not.
  static std::string redirectable(const std::string& to);
  // Counts one more (or one fewer) forward of `port` to `to`; add() throws
  // std::invalid_argument unless redirectable(to) is "", remove() of what was never
  // added does nothing.
  void add(std::uint16_t port, const std::string& to);
  void remove(std::uint16_t port, const std::string& to);
  Table wanted() const;

  // The script that makes the guest hold wanted(), or nullopt when the last applied() table is
  // wanted() already.
  struct Change {
    Table table;
    std::string script;
  };
  std::optional<Change> pending() const;
  // The guest holds `table` now (its script exited 0).
  void applied(Table table) { applied_ = std::move(table); }
  // What the guest holds is not known (a run failed, a new boot): the next pending() rewrites it.
  void forget() { applied_.reset(); }

  // The script (bash, run as root in the guest) for `table`; exits non-zero with one line on
  // stderr when it cannot apply it.
  static std::string script(const Table& table, const std::string& guest_address);

 private:
  std::string guest_address_;
  std::map<std::pair<std::uint16_t, std::string>, int> counts_;
  std::optional<Table> applied_;
};

}  // namespace berth::vm
