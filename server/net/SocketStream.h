#pragma once
// SocketStream: a ByteStream over a plain stream socket (unix or TCP). Thread-safety as
// ByteStream: use from the socket's executor only.
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include "server/net/ByteStream.h"

namespace berth::net {

template <class Protocol>
class SocketStream final : public ByteStream {
 public:
  using Socket = typename Protocol::socket;

  SocketStream(Socket socket, std::string description)
      : socket_(std::move(socket)), description_(std::move(description)) {}

  boost::asio::any_io_executor executor() override { return socket_.get_executor(); }
  void readSome(boost::asio::mutable_buffer buffer, IoHandler handler) override;
  void writeSome(std::span<const boost::asio::const_buffer> buffers, IoHandler handler) override;
  std::size_t tryWrite(boost::asio::const_buffer data, ErrorCode& ec) override;
  void shutdownSend(std::function<void(ErrorCode)> handler) override;
  void close() override;
  std::string describe() const override { return description_; }

  Socket& socket() { return socket_; }

 private:
  Socket socket_;
  std::string description_;
  void* reactor_ = nullptr;   // the socket's Asio reactor, once a read has registered it (.cc)
  bool plain_reads_ = false;  // the socket could not be watched for EPOLLRDHUP: Asio's own reads
};

using UnixStream = SocketStream<boost::asio::local::stream_protocol>;
using TcpStream = SocketStream<boost::asio::ip::tcp>;

extern template class SocketStream<boost::asio::local::stream_protocol>;
extern template class SocketStream<boost::asio::ip::tcp>;

}  // namespace berth::net
