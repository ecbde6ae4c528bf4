#include "server/net/SocketStream.h"

#include <sys/socket.h>

#include <boost/asio/post.hpp>
#include <cerrno>
#include <vector>

namespace berth::net {

template <class Protocol>
void SocketStream<Protocol>::readSome(boost::asio::mutable_buffer buffer, IoHandler handler) {
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
