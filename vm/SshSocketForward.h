#pragma once
// SshSocketForward: one `ssh -N -L LOCAL:REMOTE` process that forwards a host unix socket to a
// unix socket in a VM guest over the profile's ssh (OpenSSH's stream-local forwarding): each
// connection to LOCAL becomes a channel to REMOTE, its bytes unchanged. With REMOTE "", it is
// `ssh -N -D LOCAL`: LOCAL is a SOCKS proxy whose connections the guest's sshd makes (the
// socket is the user's only, mode 0600, unlike a TCP port any local user could use). ssh
// authenticates both ends (the profile's key; the guest's host key, pinned in the profile's
// known_hosts). ensure() starts the process when it does not run (while the guest's sshd is not up
// yet it exits: the caller asks again); stop() ends it. Not thread-safe: the driver calls it from
// the thread that starts and stops the guest.
#include <optional>
#include <string>
#include <vector>

#include "server/net/ChildProcess.h"

namespace berth::vm {

class SshSocketForward {
 public:
  // `log` receives ssh's own messages (appended); `remote` "": a SOCKS proxy at `local`.
  SshSocketForward(std::string local, std::string remote, std::string log);
  ~SshSocketForward() { stop(); }
  SshSocketForward(const SshSocketForward&) = delete;
  SshSocketForward& operator=(const SshSocketForward&) = delete;

  // True when the forward runs and LOCAL accepts; else starts it (when it is not running) and
  // returns false. `ssh` is the guest's ssh argv without a command (its destination last).
  bool ensure(const std::vector<std::string>& ssh);
  // Ends the forward (its open channels with it) and removes LOCAL.
  void stop();
  const std::string& local() const { return local_; }

 private:
  std::string local_, remote_, log_;
  std::optional<net::ChildProcess> ssh_;
};

}  // namespace berth::vm
