#pragma once
// GuestSocksDialer: the qemu driver's GuestDialer. One `ssh -N -D SOCKET` per boot
// (SshSocketForward with no remote) makes a SOCKS5 proxy on a unix socket in the profile's
// state dir (mode 0600); each connection through it (net::SocksConnector) is an ssh channel
// that the guest's sshd connects to the target, so the host reaches container addresses and
// the guest's loopback with no guest setup, no iptables and no host port per target.
// Why this path and not a DNAT in the guest plus a QEMU hostfwd per target (GuestLoopbackDnat's
// mechanism): measured under TCG at load ~9 on 2 cores, the per-target setup that needs runs a
// command in the guest over a new ssh session, 35-51 s each, where this pays one ssh login per
// boot (~3 s) and then 14-50 ms per connect; and OpenSSH answers SOCKS only once the guest
// connected, so a refused port fails the connect (QEMU's hostfwd accepts first and closes
// later), which the names front's 502 page and its wake retries rely on. The cost: the bytes
// are ssh-encrypted, in the guest's emulated CPU too (fine for HTTP by name, not for bulk).
// ready() and stop() from the thread that starts and stops the guest; connector() from any
// thread, without blocking.
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "vm/Driver.h"
#include "vm/SshSocketForward.h"

namespace berth::vm {

class GuestSocksDialer final : public GuestDialer {
 public:
  // `ssh`: the guest's ssh argv without a command (its destination last), asked at each ready().
  using SshArgv = std::function<std::vector<std::string>()>;
  GuestSocksDialer(std::string socket, std::string log, SshArgv ssh,
                   std::chrono::milliseconds timeout);

  // Starts the proxy unless it runs, and waits until its socket is there (within `timeout`).
  void ready() override;
  net::ConnectorPtr connector(const boost::asio::ip::tcp::endpoint& target,
                              const std::string& description) const override;
  // Ends the proxy (and the connections through it).
  void stop() { forward_.stop(); }

 private:
  std::string log_;
  SshArgv ssh_;
  std::chrono::milliseconds timeout_;
  SshSocketForward forward_;
};

}  // namespace berth::vm
