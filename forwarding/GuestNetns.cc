#include "forwarding/GuestNetns.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "server/net/Log.h"

namespace berth::fwd {

std::shared_ptr<GuestNetns> GuestNetns::open(const std::string& path, std::string& error) {
  const int guest_fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (guest_fd < 0) {
    error = "cannot open network namespace " + path + ": " + std::strerror(errno);
    return nullptr;
  }
  const int host_fd = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (host_fd < 0) {
    error = std::string("cannot open this thread's network namespace: ") + std::strerror(errno);
    ::close(guest_fd);
    return nullptr;
  }
  // One trial switch, so that a namespace berth may not enter is refused now, not per connection.
  if (::setns(guest_fd, CLONE_NEWNET) != 0) {
    error = "cannot enter network namespace " + path + ": " + std::strerror(errno);
    ::close(guest_fd);
    ::close(host_fd);
    return nullptr;
  }
  if (::setns(host_fd, CLONE_NEWNET) != 0) std::abort();  // cannot happen: it is where we were
  return std::shared_ptr<GuestNetns>(new GuestNetns(path, guest_fd, host_fd));
}

GuestNetns::~GuestNetns() {
  ::close(guest_fd_);
  ::close(host_fd_);
}

int GuestNetns::socket(int domain, int type, int protocol) const {
  if (::setns(guest_fd_, CLONE_NEWNET) != 0) return -1;
  const int fd = ::socket(domain, type | SOCK_CLOEXEC, protocol);
  const int saved = errno;
  // Staying in the guest's namespace would put every later socket of this thread there.
  if (::setns(host_fd_, CLONE_NEWNET) != 0) {
    BERTH_LOG(Error, "forwarding",
              "cannot leave network namespace " << path_ << ": " << std::strerror(errno));
    std::abort();
  }
  errno = saved;
  return fd;
}

}  // namespace berth::fwd
