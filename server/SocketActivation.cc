#include "server/SocketActivation.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "api/Numbers.h"

namespace berth::server {
namespace {

constexpr int kFirstFd = 3;  // SD_LISTEN_FDS_START

bool isUnixListenerAt(int fd, const std::string& path) {
  int type = 0, listening = 0;
  socklen_t len = sizeof(type);
  if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM) return false;
  len = sizeof(listening);
  if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening)
    return false;
  sockaddr_un address{};
  len = sizeof(address);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &len) != 0 ||
      address.sun_family != AF_UNIX)
    return false;
  return std::strncmp(address.sun_path, path.c_str(), sizeof(address.sun_path)) == 0;
}

}  // namespace

int SocketActivation::takeUnixListener(const std::string& path) {
  const char* pid_text = std::getenv("LISTEN_PID");
  const char* fds_text = std::getenv("LISTEN_FDS");
  const auto pid = pid_text != nullptr ? api::parseWhole<unsigned>(pid_text) : std::nullopt;
  const bool ours = fds_text != nullptr && pid && static_cast<pid_t>(*pid) == ::getpid();
  const long count = ours ? static_cast<long>(api::parseWhole<unsigned>(fds_text).value_or(0)) : 0;
  ::unsetenv("LISTEN_PID");
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("LISTEN_FDNAMES");
  if (count <= 0) return -1;
  int found = -1;
  for (int fd = kFirstFd; fd < kFirstFd + count; ++fd) {
    const int flags = ::fcntl(fd, F_GETFD);
    if (flags < 0) continue;
    ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
    if (found < 0 && isUnixListenerAt(fd, path)) found = fd;
  }
  if (found < 0) {
    throw std::runtime_error(std::to_string(count) +
                             " socket(s) were passed by socket activation, none of them a "
                             "listening unix socket at " +
                             path + " (the socket unit must listen on the profile's docker.sock)");
  }
  return found;
}

}  // namespace berth::server
