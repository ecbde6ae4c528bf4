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

// Per direction. 256 KiB (not the 64 KiB default) halves the syscalls per byte on a fast
// loopback sender; it is also the most kernel memory a direction of a connection can hold.
constexpr int kPipeBytes = 256 * 1024;

bool wouldBlock(int error) { return error == EAGAIN || error == EWOULDBLOCK; }

}  // namespace

SpliceRelay::SpliceRelay(Socket client, boost::asio::ip::tcp::endpoint target,
                         std::function<void()> on_finished)
    : client_(std::move(client)),
      upstream_(client_.get_executor()),
      target_(target),
      on_finished_(std::move(on_finished)) {
  to_guest_.from = &client_;
  to_guest_.to = &upstream_;
  to_client_.from = &upstream_;
  to_client_.to = &client_;
}

SpliceRelay::~SpliceRelay() {
  for (Direction* d : {&to_guest_, &to_client_}) {
    if (d->pipe_read >= 0) ::close(d->pipe_read);
    if (d->pipe_write >= 0) ::close(d->pipe_write);
  }
}

void SpliceRelay::start() {
  upstream_.async_connect(
      target_, [self = shared_from_this()](net::ErrorCode ec) { self->onConnected(ec); });
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
  const int one = 1;
  for (Socket* s : {&client_, &upstream_}) {
    ::setsockopt(s->native_handle(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    s->native_non_blocking(true, ec);
  }
  for (Direction* d : {&to_guest_, &to_client_}) {
    int fds[2];
    if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return fail("pipe2", errno);
    ::fcntl(fds[1], F_SETPIPE_SZ, kPipeBytes);  // best effort: the default 64 KiB works too
    d->pipe_read = fds[0];
    d->pipe_write = fds[1];
  }
  pump(to_guest_);
  pump(to_client_);
}

void SpliceRelay::pump(Direction& d) {
  constexpr unsigned kFlags = SPLICE_F_MOVE | SPLICE_F_NONBLOCK;
  auto self = shared_from_this();
  for (;;) {
    if (!client_.is_open() || !upstream_.is_open()) return finishIfDone();
    if (d.in_pipe > 0) {
      ssize_t n = ::splice(d.pipe_read, nullptr, d.to->native_handle(), nullptr, d.in_pipe, kFlags);
      if (n > 0) {
        d.in_pipe -= static_cast<std::size_t>(n);
        continue;
      }
      if (n < 0 && wouldBlock(errno)) {
        d.to->async_wait(Socket::wait_write, [self, &d](net::ErrorCode ec) {
          if (ec) return self->finishIfDone();
          self->pump(d);
        });
        return;
      }
      return fail("splice to peer", n < 0 ? errno : EPIPE);
    }
    if (d.eof) {
      ::shutdown(d.to->native_handle(), SHUT_WR);
      d.done = true;
      return finishIfDone();
    }
    ssize_t n =
        ::splice(d.from->native_handle(), nullptr, d.pipe_write, nullptr, kPipeBytes, kFlags);
    if (n > 0) {
      d.in_pipe = static_cast<std::size_t>(n);
      continue;
    }
    if (n == 0) {
      d.eof = true;
      continue;
    }
    if (wouldBlock(errno)) {
      d.from->async_wait(Socket::wait_read, [self, &d](net::ErrorCode ec) {
        if (ec) return self->finishIfDone();
        self->pump(d);
      });
      return;
    }
    return fail("splice from peer", errno);
  }
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
  if (on_finished_) on_finished_();
}

}  // namespace berth::fwd
