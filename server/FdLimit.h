#pragma once
// FdLimit: the daemon's file-descriptor budget. Every relayed connection holds two fds (client
// and engine), so the connection cap must fit under RLIMIT_NOFILE, or berth would run out of
// fds (and fail accept) before its cap could answer a clear 503. Call once at daemon start,
// from the setup thread.
#include <cstddef>

namespace berth::server {

class FdLimit {
 public:
  // Raises the soft RLIMIT_NOFILE to the hard limit; returns the soft limit now in force.
  static std::size_t raise();
  // The largest connection cap that `fd_limit` can carry (two fds per connection, a reserve
  // for listeners, logs, forwarding and the driver).
  static std::size_t connectionsFor(std::size_t fd_limit);
  // raise(), then `wanted` lowered to what the fd limit carries (logged when lowered).
  static std::size_t capConnections(std::size_t wanted);
};

}  // namespace berth::server
