#pragma once
// GuestWatchScript: the bash loop GuestShellListeners runs in a guest berth cannot enter (a VM,
// over ssh, as root) and the lines that end what it prints. Once a second until its output is
// closed it reads the guest's /proc/net/tcp and tcp6 and, when their LISTEN rows changed, prints
// them (cut after the state column, ProcNetTcp reads them) and a kEndOfTable line; the first
// table at once. With `cni_hostports` (a containerd guest, where a container's ports are the CNI
// portmap plugin's hostPorts) it also runs `iptables-save -t nat` each round, before the sockets,
// and, when its `-A CNI-...` rules changed, prints them and a kEndOfNat line (CniHostports reads
// them); a guest without iptables-save, or a run that fails, prints none (the last stands).
// Pure code, no I/O; thread-safe.
#include <string>
#include <string_view>

namespace berth::fwd {

class GuestWatchScript {
 public:
  // One line (ssh hands it to a login shell).
  static const std::string& script(bool cni_hostports);
  static constexpr std::string_view kEndOfTable = ".";
  static constexpr std::string_view kEndOfNat = ".nat";
};

}  // namespace berth::fwd
