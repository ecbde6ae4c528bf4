#include "forwarding/SpliceRelay.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <cerrno>
#include <cstring>

#include "server/net/Log.h"

namespace berth::fwd {
namespace {

constexpr unsigned kFlags = SPLICE_F_MOVE | SPLICE_F_NONBLOCK;
constexpr std::size_t kPipeBytes = PipePool::kPipeBytes;
// Below this much in the pipe, read again before passing it on, so that an EOF right behind a
// short message is known in time to send the data and the FIN in one segment. The read that
// finds the socket empty would come next anyway, so this costs no syscall.
constexpr std::size_t kShortRead = std::size_t{16} * 1024;

bool wouldBlock(int error) { return error == EAGAIN || error == EWOULDBLOCK; }

net::ErrorCode systemError(int error) {
  return net::ErrorCode(error, boost::system::system_category());
}

}  // namespace

SpliceRelay::SpliceRelay(Socket client, boost::asio::ip::tcp::endpoint target,
                         std::shared_ptr<const GuestNetns> netns, std::function<void()> on_finished)
    : client_(std::move(client)),
      upstream_(client_.get_executor()),
      target_(std::move(target)),
      netns_(std::move(netns)),
      on_finished_(std::move(on_finished)) {
  to_guest_.from = &client_;
  to_guest_.to = &upstream_;
  to_client_.from = &upstream_;
  to_client_.to = &client_;
}

SpliceRelay::~SpliceRelay() {
  for (Direction* d : {&to_guest_, &to_client_}) PipePool::discard(d->pipe);
}

void SpliceRelay::start() {
  // Opened by Asio where it can be (assign(), needed for a socket from the guest's namespace,
  // marks it a possible dup and costs an epoll_ctl DEL at close), made non-blocking once (so no
  // wait sets it again), then a plain connect(): Asio's async_connect adds an ioctl and a poll.
  net::ErrorCode ec;
  openSocket(netns_.get(), upstream_, target_.protocol(), ec);
  if (!ec) upstream_.native_non_blocking(true, ec);
  if (ec) return onConnected(ec);
  const int fd = upstream_.native_handle();
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(fd, target_.data(), static_cast<socklen_t>(target_.size())) == 0) {
    return onConnected({});
  }
  if (errno != EINPROGRESS) return onConnected(systemError(errno));
  upstream_.async_wait(Socket::wait_write, [self = shared_from_this()](net::ErrorCode wait_ec) {
    if (!wait_ec) {
      int error = 0;
      socklen_t size = sizeof error;
      if (::getsockopt(self->upstream_.native_handle(), SOL_SOCKET, SO_ERROR, &error, &size) != 0) {
        error = errno;
      }
      if (error != 0) wait_ec = systemError(error);
    }
    self->onConnected(wait_ec);
  });
}

void SpliceRelay::close() {
  boost::asio::post(client_.get_executor(), [self = shared_from_this()] {
    net::ErrorCode ignored;
    self->client_.close(ignored);
    self->upstream_.close(ignored);
    self->finishIfDone();
  });
}

void SpliceRelay::onConnected(net::ErrorCode ec) {
  if (ec) {
    BERTH_LOG(Debug, "forwarding", "connect to guest " << target_ << ": " << ec.message());
    net::ErrorCode ignored;
    client_.close(ignored);
    return finishIfDone();
  }
  if (!client_.is_open()) return finishIfDone();  // closed while connecting
  // The client socket came with TCP_NODELAY, inherited from the listener.
  PipePool& pool = PipePool::local();
  for (Direction* d : {&to_guest_, &to_client_}) {
    d->pipe = pool.take();
    if (!d->pipe.valid()) return fail("pipe2", errno);
  }
  pump(to_guest_);
  pump(to_client_);
}

void SpliceRelay::pump(Direction& d) {
  for (;;) {
    if (!client_.is_open() || !upstream_.is_open()) return finishIfDone();
    // Read while what came so far is short: a whole message, and an EOF right behind it (a
    // response and the server's close), is then known before anything is sent on.
    bool drained = false;  // the last read found nothing more to read
    while (!d.eof && d.in_pipe < kShortRead) {
      ssize_t n = ::splice(d.from->native_handle(), nullptr, d.pipe.write, nullptr,
                           kPipeBytes - d.in_pipe, kFlags);
      if (n > 0) {
        d.in_pipe += static_cast<std::size_t>(n);
      } else if (n == 0) {
        d.eof = true;
      } else if (!wouldBlock(errno)) {
        return fail("splice from peer", errno);
      } else if (d.in_pipe == 0) {
        return waitThenPump(d, *d.from, Socket::wait_read);
      } else {
        drained = true;
        break;
      }
    }
    if (d.in_pipe > 0) {
      // EOF known: MORE holds a last partial segment back until the shutdown below, which
      // sends it with the FIN (one packet, not two).
      const unsigned flags = kFlags | (d.eof ? SPLICE_F_MORE : 0U);
      ssize_t n = ::splice(d.pipe.read, nullptr, d.to->native_handle(), nullptr, d.in_pipe, flags);
      if (n < 0 && wouldBlock(errno)) return waitThenPump(d, *d.to, Socket::wait_write);
      if (n <= 0) return fail("splice to peer", n < 0 ? errno : EPIPE);
      d.in_pipe -= static_cast<std::size_t>(n);
      if (d.in_pipe == 0 && drained) return waitThenPump(d, *d.from, Socket::wait_read);
      continue;
    }
    if (d.eof) {
      ::shutdown(d.to->native_handle(), SHUT_WR);
      d.done = true;
      return finishIfDone();
    }
  }
}

void SpliceRelay::waitThenPump(Direction& d, Socket& socket, Socket::wait_type what) {
  socket.async_wait(what, [self = shared_from_this(), &d](net::ErrorCode ec) {
    if (ec) return self->finishIfDone();
    self->pump(d);
  });
}

void SpliceRelay::fail(const char* what, int error) {
  if (error != ECONNRESET && error != EPIPE) {
    BERTH_LOG(Debug, "forwarding", what << ": " << std::strerror(error));
  }
  // A reset on one side is passed on as a reset: SO_LINGER 0 makes close() send RST.
  struct linger reset = {1, 0};
  if (client_.is_open()) {
    ::setsockopt(client_.native_handle(), SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  }
  net::ErrorCode ignored;
  client_.close(ignored);
  upstream_.close(ignored);
  finishIfDone();
}

void SpliceRelay::finishIfDone() {
  if (finished_) return;
  bool both_done = to_guest_.done && to_client_.done;
  if (!both_done && client_.is_open() && upstream_.is_open()) return;
  net::ErrorCode ignored;
  client_.close(ignored);
  upstream_.close(ignored);
  finished_ = true;
  // Drained pipes go back for the next connection; one still holding bytes is closed.
  for (Direction* d : {&to_guest_, &to_client_}) {
    if (d->in_pipe == 0) {
      PipePool::local().give(d->pipe);
    } else {
      PipePool::discard(d->pipe);
    }
    d->pipe = {};
  }
  if (on_finished_) on_finished_();
}

}  // namespace berth::fwd
