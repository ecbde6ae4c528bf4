#pragma once
// GuestNetns: opens sockets inside the guest's network namespace (the ns driver's), so a forward
// can reach a port the engine published on the guest's loopback only (`-p 127.0.0.1:P:80`),
// which no address outside the guest reaches. socket() enters the namespace on the calling
// thread, makes the socket and goes back; the socket stays in the guest's namespace for life.
// Thread-safe: the namespace switch is per thread and undone before socket() returns.
#include <unistd.h>

#include <boost/system/error_code.hpp>
#include <cerrno>
#include <memory>
#include <string>

namespace berth::fwd {

class GuestNetns {
 public:
  // `path`: a network namespace file (/var/run/netns/NAME, /proc/PID/ns/net). Null, with the
  // reason in `error`, if it cannot be opened or entered.
  static std::shared_ptr<GuestNetns> open(const std::string& path, std::string& error);
  ~GuestNetns();
  GuestNetns(const GuestNetns&) = delete;
  GuestNetns& operator=(const GuestNetns&) = delete;

  // A new socket(domain, type | SOCK_CLOEXEC, protocol) in the guest's namespace, or -1 with
  // errno set.
  int socket(int domain, int type, int protocol = 0) const;
  const std::string& path() const { return path_; }

 private:
  GuestNetns(std::string path, int guest_fd, int host_fd)
      : path_(std::move(path)), guest_fd_(guest_fd), host_fd_(host_fd) {}

  std::string path_;
  int guest_fd_;
  int host_fd_;  // the namespace berth runs in, to go back to
};

// Opens an Asio `socket` for `protocol`: in the guest's namespace when `netns` is set, else here.
template <typename Socket>
void openSocket(const GuestNetns* netns, Socket& socket,
                const typename Socket::protocol_type& protocol, boost::system::error_code& ec) {
  if (!netns) {
    socket.open(protocol, ec);
    return;
  }
  const int fd = netns->socket(protocol.family(), protocol.type());
  if (fd < 0) {
    ec.assign(errno, boost::system::system_category());
    return;
  }
  socket.assign(protocol, fd, ec);
  if (ec) ::close(fd);
}

}  // namespace berth::fwd
