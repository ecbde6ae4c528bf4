#include "server/UnixListener.h"

#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/steady_timer.hpp>
#include <stdexcept>

#include "server/net/ConnectionExecutor.h"
#include "server/net/Log.h"
#include "server/net/SocketStream.h"
#include "vm/PrivateDir.h"

namespace berth::server {
using Protocol = boost::asio::local::stream_protocol;

void checkSocketPathLength(const std::string& path) {
  constexpr std::size_t kMax = sizeof(sockaddr_un::sun_path) - 1;
  if (path.size() > kMax) {
    throw std::runtime_error("socket path " + path + " is " + std::to_string(path.size()) +
                             " bytes; a unix socket path holds at most " + std::to_string(kMax) +
                             " (use a shorter BERTH_HOME)");
  }
}

UnixListener::UnixListener(boost::asio::io_context& io, std::string path, AcceptHandler on_accept,
                           net::Placement place)
    : io_(io),
      path_(std::move(path)),
      on_accept_(std::move(on_accept)),
      place_(std::move(place)),
      acceptor_(io) {}

void UnixListener::open() {
  checkSocketPathLength(path_);
  // Whoever can write the socket's directory can swap the socket for their own.
  auto slash = path_.rfind('/');
  vm::PrivateDir::checkSocketDir(slash == std::string::npos ? "."
                                 : slash == 0               ? "/"
                                                            : path_.substr(0, slash));
  struct stat st {};
  if (::lstat(path_.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      throw std::runtime_error(path_ + " exists and is not a socket; move it away first");
    }
    Protocol::socket probe(io_);
    boost::system::error_code ec;
    probe.connect(Protocol::endpoint(path_), ec);
    if (!ec) {
      throw std::runtime_error("another process is serving " + path_ +
                               "; stop it first (berth stop)");
    }
    ::unlink(path_.c_str());  // stale: nobody answers
  }
  // Create the socket 0600 from the start: no window where others could connect.
  mode_t old_mask = ::umask(0177);
  boost::system::error_code ec;
  acceptor_.open(Protocol(), ec);
  if (!ec) acceptor_.bind(Protocol::endpoint(path_), ec);
  ::umask(old_mask);
  if (!ec) acceptor_.listen(boost::asio::socket_base::max_listen_connections, ec);
  if (ec) throw std::runtime_error("cannot listen on " + path_ + ": " + ec.message());
  ::chmod(path_.c_str(), 0600);
}

void UnixListener::adopt(int fd) {
  boost::system::error_code ec;
  acceptor_.assign(Protocol(), fd, ec);
  if (ec)
    throw std::runtime_error("cannot serve the socket passed for " + path_ + ": " + ec.message());
  adopted_ = true;
}

void UnixListener::start() { accept(); }

void UnixListener::accept() {
  acceptor_.async_accept(net::connectionExecutor(io_, place_), [self = shared_from_this()](
                                                                   boost::system::error_code ec,
                                                                   Protocol::socket socket) {
    if (self->stopped_) return;
    if (ec) {
      BERTH_LOG(Warn, "listener", "accept on " << self->path_ << ": " << ec.message());
      if (ec == boost::asio::error::no_descriptors || ec == boost::asio::error::no_buffer_space) {
        // Out of fds: retry later instead of spinning.
        auto timer = std::make_shared<boost::asio::steady_timer>(self->io_);
        timer->expires_after(std::chrono::milliseconds(100));
        timer->async_wait([self, timer](boost::system::error_code) { self->accept(); });
        return;
      }
    } else {
      self->on_accept_(std::make_unique<net::UnixStream>(std::move(socket), "unix:" + self->path_));
    }
    self->accept();
  });
}

void UnixListener::stop() {
  if (stopped_) return;
  stopped_ = true;
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  if (!adopted_) ::unlink(path_.c_str());
}

}  // namespace berth::server
