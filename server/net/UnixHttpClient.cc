#include "server/net/UnixHttpClient.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace berth::net {
namespace {

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

int millisLeft(std::chrono::steady_clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

bool waitFor(int fd, short events, std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, millisLeft(deadline));
    if (n < 0 && errno == EINTR) continue;
    return n > 0;
  }
}

}  // namespace

HttpReply UnixHttpClient::request(const std::string& socket_path, const std::string& method,
                                  const std::string& target, const std::string& body,
                                  std::chrono::milliseconds timeout) {
  HttpReply reply;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  sockaddr_un address{};
  if (socket_path.size() >= sizeof address.sun_path) {
    reply.error = "socket path too long: " + socket_path;
    return reply;
  }
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, socket_path.c_str(), socket_path.size() + 1);
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (fd.get() < 0) {
    reply.error = std::string("socket: ") + std::strerror(errno);
    return reply;
  }
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 &&
      errno != EINPROGRESS && errno != EAGAIN) {
    reply.error = "cannot connect to " + socket_path + ": " + std::strerror(errno);
    return reply;
  }
  std::string out = method + " " + target + " HTTP/1.0\r\nHost: berth\r\n";
  if (!body.empty() || method == "POST") {
    out +=
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  out += "\r\n" + body;
  std::size_t sent = 0;
  while (sent < out.size()) {
    if (!waitFor(fd.get(), POLLOUT, deadline)) {
      reply.error = "timed out writing to " + socket_path;
      return reply;
    }
    ssize_t n = ::send(fd.get(), out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      reply.error = "cannot write to " + socket_path + ": " + std::strerror(errno);
      return reply;
    }
    sent += static_cast<std::size_t>(n);
  }
  std::string in;
  char buffer[8192];
  for (;;) {
    if (!waitFor(fd.get(), POLLIN, deadline)) {
      reply.error = "timed out waiting for an answer on " + socket_path;
      return reply;
    }
    ssize_t n = ::recv(fd.get(), buffer, sizeof buffer, 0);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      reply.error = "cannot read from " + socket_path + ": " + std::strerror(errno);
      return reply;
    }
    if (n == 0) break;
    in.append(buffer, static_cast<std::size_t>(n));
    if (in.size() > (64u << 20)) {
      reply.error = "answer too large on " + socket_path;
      return reply;
    }
  }
  const auto head_end = in.find("\r\n\r\n");
  if (in.rfind("HTTP/1.", 0) != 0 || head_end == std::string::npos || in.size() < 12) {
    reply.error = "not an HTTP answer on " + socket_path;
    return reply;
  }
  reply.status = std::atoi(in.c_str() + 9);
  reply.body = in.substr(head_end + 4);
  return reply;
}

}  // namespace berth::net
