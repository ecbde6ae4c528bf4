#include "server/net/SocketStream.h"

#include <sys/socket.h>

#include <boost/asio/post.hpp>
#include <boost/version.hpp>
#include <cerrno>
#include <memory>
#include <vector>

// Asio 1.74's epoll reactor reads speculatively: after each read that returned data it calls
// recv() again at the next read, and on an emptied socket that recv() answers EAGAIN. A relayed
// request/response pays two of them (client and engine side), about 1.4 us of a relay's ~27 us
// per GET /_ping here, which is berth's CPU gap to HAProxy (issue 19). The reactor skips that
// recv() after an operation reports "done_and_exhausted", which Asio's own op never does.
// ExhaustingRecv does, after a read shorter than its buffer, unless the peer's FIN may wait
// behind the data: epoll reports a FIN that came with the data in the same event, and a read
// that then waited for another event would wait forever. So each socket is registered for
// EPOLLRDHUP as well, and a short read counts as exhausted only while the events epoll last
// reported for the socket hold no RDHUP, HUP or ERR. A FIN that came after that report makes
// another one, which lets the reactor read again (epoll_reactor::descriptor_state::perform_io).
// (session 23's recvmmsg of two messages, which read the "empty" proof in the same call, cost
// ~1.1 us more per read than one recv(): berth lost 2-4% of GET /_ping c=32 to it.)
// Internals of the Boost version Debian ships: any other version uses plain async_read_some.
#if BOOST_VERSION == 107400 && defined(BOOST_ASIO_HAS_EPOLL) && !defined(BOOST_ASIO_HAS_IO_URING)
#define BERTH_EXHAUSTING_RECV 1
#include <sys/epoll.h>

#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/detail/reactor_op.hpp>
#include <boost/asio/execution/context.hpp>
#include <boost/asio/query.hpp>
#else
#define BERTH_EXHAUSTING_RECV 0
#endif

namespace berth::net {

#if BERTH_EXHAUSTING_RECV
namespace {

namespace asio_detail = boost::asio::detail;
using DescriptorState = asio_detail::epoll_reactor::descriptor_state;

// Pointers to private members of Asio's reactor: an explicit instantiation may name them
// ([temp.spec.general]: the usual access checking rules do not apply there), and the friend it
// defines hands the pointer out.
template <class Tag, typename Tag::Type kMember>
struct Expose {
  friend typename Tag::Type member(Tag /*unused*/) { return kMember; }
};
struct EpollFd {
  using Type = int asio_detail::epoll_reactor::*;
  friend Type member(EpollFd);
};
struct RegisteredEvents {
  using Type = std::uint32_t DescriptorState::*;
  friend Type member(RegisteredEvents);
};
struct StateMutex {
  using Type = asio_detail::conditionally_enabled_mutex DescriptorState::*;
  friend Type member(StateMutex);
};
// The events epoll last reported for a descriptor (its operation base's task result).
struct ReadyEvents {
  using Type = unsigned int asio_detail::scheduler_operation::*;
  friend Type member(ReadyEvents);
};
template struct Expose<EpollFd, &asio_detail::epoll_reactor::epoll_fd_>;
template struct Expose<RegisteredEvents, &DescriptorState::registered_events_>;
template struct Expose<StateMutex, &DescriptorState::mutex_>;
template struct Expose<ReadyEvents, &asio_detail::scheduler_operation::task_result_>;

// descriptor_state derives from operation privately; a C-style cast converts to a private base.
unsigned int readyEvents(DescriptorState* state) {
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-cstyle-cast): the base is private (above)
  return ((asio_detail::scheduler_operation*)state)->*member(ReadyEvents{});
}

// Adds EPOLLRDHUP to the socket's registration, as Asio's own EPOLL_CTL_MODs will keep it
// (they OR into registered_events_). False if the socket is not in epoll.
bool watchPeerShutdown(asio_detail::epoll_reactor& reactor, int fd, DescriptorState* state) {
  asio_detail::conditionally_enabled_mutex::scoped_lock lock(state->*member(StateMutex{}));
  std::uint32_t& registered = state->*member(RegisteredEvents{});
  if (registered == 0) return false;
  if ((registered & EPOLLRDHUP) != 0) return true;
  epoll_event ev{};
  ev.events = registered | EPOLLRDHUP;
  ev.data.ptr = state;
  // Re-polls the socket: a FIN already queued is reported again, with RDHUP.
  if (::epoll_ctl(reactor.*member(EpollFd{}), EPOLL_CTL_MOD, fd, &ev) != 0) return false;
  registered = ev.events;
  return true;
}

// One read of at least one byte into `buffer`, completed on the reactor's thread, which is the
// socket's executor (each connection stays on one single-threaded loop).
class ExhaustingRecv final : public asio_detail::reactor_op {
 public:
  ExhaustingRecv(int fd, DescriptorState* state, boost::asio::mutable_buffer buffer,
                 IoHandler handler)
      : reactor_op(ErrorCode(), &ExhaustingRecv::perform, &ExhaustingRecv::complete),
        fd_(fd),
        state_(state),
        buffer_(buffer),
        handler_(std::move(handler)) {}

 private:
  static status perform(reactor_op* base) {
    auto* op = static_cast<ExhaustingRecv*>(base);
    ssize_t got;
    do {
      got = ::recv(op->fd_, op->buffer_.data(), op->buffer_.size(), MSG_DONTWAIT);
    } while (got < 0 && errno == EINTR);
    if (got < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return not_done;
      op->ec_ = ErrorCode(errno, boost::asio::error::get_system_category());
      return done;
    }
    if (got == 0) {
      op->ec_ = boost::asio::error::eof;
      return done;
    }
    op->bytes_transferred_ = static_cast<std::size_t>(got);
    if (op->bytes_transferred_ == op->buffer_.size()) return done;  // more may wait
    if ((readyEvents(op->state_) & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) return done;
    return done_and_exhausted;
  }

  // `owner` is null when the io_context is destroyed with the operation pending: free only.
  static void complete(void* owner, asio_detail::operation* base, const ErrorCode& /*unused*/,
                       std::size_t /*unused*/) {
    std::unique_ptr<ExhaustingRecv> op(static_cast<ExhaustingRecv*>(base));
    if (owner == nullptr) return;
    IoHandler handler = std::move(op->handler_);
    const ErrorCode ec = op->ec_;
    const std::size_t n = op->bytes_transferred_;
    op.reset();
    handler(ec, n);
  }

  int fd_;
  DescriptorState* state_;
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
#if BERTH_EXHAUSTING_RECV
  if (reactor_ == nullptr && !plain_reads_) {
    auto& impl = (socket_.*SocketImpl<Socket>::kMember).get_implementation();
    // Found once: use_service locks the service registry and walks its list, and a socket's
    // reactor never changes.
    auto& reactor = boost::asio::use_service<asio_detail::reactor>(
        boost::asio::query(socket_.get_executor(), boost::asio::execution::context));
    if (watchPeerShutdown(reactor, impl.socket_, impl.reactor_data_))
      reactor_ = &reactor;
    else
      plain_reads_ = true;
  }
  if (reactor_ != nullptr && buffer.size() > 0) {
    auto& impl = (socket_.*SocketImpl<Socket>::kMember).get_implementation();
    static_cast<asio_detail::reactor*>(reactor_)->start_op(
        asio_detail::reactor::read_op, impl.socket_, impl.reactor_data_,
        new ExhaustingRecv(impl.socket_, impl.reactor_data_, buffer, std::move(handler)),
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
