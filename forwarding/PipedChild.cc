#include "forwarding/PipedChild.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace berth::fwd {

net::ChildProcess spawnPiped(net::SpawnOptions options, int& output) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    throw net::ProcessError(std::string("cannot make a pipe: ") + std::strerror(errno));
  options.fds.emplace_back(fds[1], 1);
  options.fds.emplace_back(fds[1], 2);
  try {
    auto child = net::ChildProcess::spawn(options);
    ::close(fds[1]);
    output = fds[0];
    return child;
  } catch (...) {
    ::close(fds[0]);
    ::close(fds[1]);
    throw;
  }
}

}  // namespace berth::fwd
