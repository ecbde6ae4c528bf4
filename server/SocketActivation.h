#pragma once
// SocketActivation: the listening sockets a service manager (systemd, systemd-socket-activate)
// hands a daemon by the LISTEN_FDS protocol (sd_listen_fds(3)): fds 3 .. 3+LISTEN_FDS-1, meant
// for this process only when LISTEN_PID is its pid. Taking them unsets the variables (children
// such as dockerd must not see them) and marks every passed fd close-on-exec. Call once, at
// startup, before any thread starts (it changes the environment); not thread-safe.
#include <string>

namespace berth::server {

class SocketActivation {
 public:
  // The passed fd that is a listening unix stream socket bound at `path`; -1 when no fd was
  // passed to this process. Throws std::runtime_error (one line) when fds were passed but none
  // is that socket (a unit that listens somewhere else).
  static int takeUnixListener(const std::string& path);
};

}  // namespace berth::server
