#include "server/net/SocketStream.h"

#include <sys/socket.h>

#include <boost/asio/post.hpp>
#include <boost/version.hpp>
#include <cerrno>
#include <memory>
#include <vector>

// Asio 1.74's epoll reactor starts every read with a recv() and, if the socket is empty, a
// second one when epoll reports it ready: a relayed request/response pays two wasted recv()s
// (EAGAIN), about 1.5 of its 6 syscalls (perf stat, _ping c=32), which is berth's CPU gap to
// HAProxy on this VM where each syscall is dear. The reactor skips that first recv() after an
// operation reports "done_and_exhausted", but its own recv op says so only at EOF.
// DrainingRecv reads with one recvmmsg() of two messages: the buffer but its last byte, then
// that byte. The second answering EAGAIN proves, in the same syscall, that the socket is empty
// and no EOF waits behind the data (a short read alone cannot tell: a peer's last bytes and
// its FIN often come in one epoll event, and the read after them would wait forever); only
// then does it report "exhausted". Internals of the Boost version Debian ships: any other
// version uses plain async_read_some.
#if BOOST_VERSION == 107400 && defined(BOOST_ASIO_HAS_EPOLL) && !defined(BOOST_ASIO_HAS_IO_URING)
#define BERTH_DRAINING_RECV 1
#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/detail/reactor_op.hpp>
#include <boost/asio/execution/context.hpp>
#include <boost/asio/query.hpp>
#else
#define BERTH_DRAINING_RECV 0
#endif

namespace berth::net {

#if BERTH_DRAINING_RECV
namespace {

namespace asio_detail = boost::asio::detail;

// One read of at least one byte into `buffer`, completed on the reactor's thread, which is the
// socket's executor (each connection stays on one single-threaded loop).
class DrainingRecv final : public asio_detail::reactor_op {
 public:
  DrainingRecv(int fd, boost::asio::mutable_buffer buffer, IoHandler handler)
      : reactor_op(ErrorCode(), &DrainingRecv::perform, &DrainingRecv::complete),
        fd_(fd),
        buffer_(buffer),
        handler_(std::move(handler)) {}

 private:
  // The buffer holds at least two bytes (readSome sends one-byte reads to Asio's own op).
  static status perform(reactor_op* base) {
    auto* op = static_cast<DrainingRecv*>(base);
    auto* data = static_cast<char*>(op->buffer_.data());
    const std::size_t size = op->buffer_.size();
    iovec parts[2] = {{data, size - 1}, {data + size - 1, 1}};
    mmsghdr messages[2] = {};
    messages[0].msg_hdr.msg_iov = &parts[0];
    messages[0].msg_hdr.msg_iovlen = 1;
    messages[1].msg_hdr.msg_iov = &parts[1];
    messages[1].msg_hdr.msg_iovlen = 1;
    int got;
    do {
      got = ::recvmmsg(op->fd_, messages, 2, MSG_DONTWAIT, nullptr);
    } while (got < 0 && errno == EINTR);
    if (got < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return not_done;
      op->ec_ = ErrorCode(errno, boost::asio::error::get_system_category());
      return done;
    }
    const std::size_t first = messages[0].msg_len;
    if (first == 0) {  // EOF before any data
      op->ec_ = boost::asio::error::eof;
      return done_and_exhausted;
    }
    op->bytes_transferred_ = first;
    if (got == 1) return done_and_exhausted;  // the second read found the socket empty
    if (messages[1].msg_len == 1) {
      // Bytes came after the first read: the last one of the buffer follows them in the stream.
      data[first] = data[size - 1];
      op->bytes_transferred_ = first + 1;
    }
    return done;  // more bytes, or an EOF that the next read (speculative) reports
  }

  // `owner` is null when the io_context is destroyed with the operation pending: free only.
  static void complete(void* owner, asio_detail::operation* base, const ErrorCode& /*unused*/,
                       std::size_t /*unused*/) {
    std::unique_ptr<DrainingRecv> op(static_cast<DrainingRecv*>(base));
    if (owner == nullptr) return;
    IoHandler handler = std::move(op->handler_);
    const ErrorCode ec = op->ec_;
    const std::size_t n = op->bytes_transferred_;
    op.reset();
    handler(ec, n);
  }

  int fd_;
  boost::asio::mutable_buffer buffer_;
  IoHandler handler_;
};

// The socket's reactor state is a protected member of basic_socket; a pointer to it formed in
// a derived class may be applied to any socket.
template <class Socket>
struct SocketImpl : Socket {
  static constexpr auto kMember = &SocketImpl::impl_;
};

}  // namespace
#endif

template <class Protocol>
void SocketStream<Protocol>::readSome(boost::asio::mutable_buffer buffer, IoHandler handler) {
#if BERTH_DRAINING_RECV
  if (buffer.size() > 1) {
    auto& impl = (socket_.*SocketImpl<Socket>::kMember).get_implementation();
    // Found once: use_service locks the service registry and walks its list, and a socket's
    // reactor never changes.
    if (reactor_ == nullptr) {
      reactor_ = &boost::asio::use_service<asio_detail::reactor>(
          boost::asio::query(socket_.get_executor(), boost::asio::execution::context));
    }
    static_cast<asio_detail::reactor*>(reactor_)->start_op(
        asio_detail::reactor::read_op, impl.socket_, impl.reactor_data_,
        new DrainingRecv(impl.socket_, buffer, std::move(handler)),
        /*is_continuation=*/false, /*allow_speculative=*/true);
    return;
  }
#endif
  socket_.async_read_some(buffer, std::move(handler));
}

template <class Protocol>
void SocketStream<Protocol>::writeSome(std::span<const boost::asio::const_buffer> buffers,
                                       IoHandler handler) {
  // The span may die before completion; Asio copies the buffer sequence it is given. Most
  // writes are one buffer (a head, a body chunk): given alone, it costs no allocation.
  if (buffers.size() == 1) {
    socket_.async_write_some(buffers.front(), std::move(handler));
    return;
  }
  std::vector<boost::asio::const_buffer> copy(buffers.begin(), buffers.end());
  socket_.async_write_some(copy, std::move(handler));
}

template <class Protocol>
std::size_t SocketStream<Protocol>::tryWrite(boost::asio::const_buffer data, ErrorCode& ec) {
  // MSG_DONTWAIT rather than the socket's non-blocking mode: nothing else about the socket
  // changes; MSG_NOSIGNAL as asio sends, so a gone peer is EPIPE, not SIGPIPE.
  const ssize_t n =
      ::send(socket_.native_handle(), data.data(), data.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  if (n >= 0) {
    ec = {};
    return static_cast<std::size_t>(n);
  }
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
    ec = boost::asio::error::would_block;
  } else {
    ec = ErrorCode(errno, boost::asio::error::get_system_category());
  }
  return 0;
}

template <class Protocol>
void SocketStream<Protocol>::shutdownSend(std::function<void(ErrorCode)> handler) {
  ErrorCode ec;
  socket_.shutdown(Socket::shutdown_send, ec);
  boost::asio::post(socket_.get_executor(), [handler = std::move(handler), ec] { handler(ec); });
}

template <class Protocol>
void SocketStream<Protocol>::close() {
  ErrorCode ignored;
  socket_.close(ignored);
}

template class SocketStream<boost::asio::local::stream_protocol>;
template class SocketStream<boost::asio::ip::tcp>;

}  // namespace berth::net
