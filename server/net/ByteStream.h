#pragma once
// ByteStream: one connected, bidirectional byte stream (unix socket, TCP, or TLS over TCP),
// behind a small virtual interface so the relay, forwarding and drivers need no template
// per transport. Handlers run on the stream's executor (its strand). Not thread-safe:
// use it from its executor only. `shutdownSend` half-closes (FIN, or TLS close_notify).
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/system/error_code.hpp>
#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <string>

namespace berth::net {

using ErrorCode = boost::system::error_code;
using IoHandler = std::function<void(ErrorCode, std::size_t)>;

class ByteStream {
 public:
  virtual ~ByteStream() = default;

  virtual boost::asio::any_io_executor executor() = 0;
  // Reads at least one byte into `buffer`; EOF is boost::asio::error::eof.
  virtual void readSome(boost::asio::mutable_buffer buffer, IoHandler handler) = 0;
  // Writes some bytes of `buffers` (gathered); the handler gets the count written.
  virtual void writeSome(std::span<const boost::asio::const_buffer> buffers, IoHandler handler) = 0;
  // Writes what the stream takes now, without waiting and without an asynchronous operation
  // (most small writes complete at once: no allocation, no trip through the scheduler);
  // boost::asio::error::would_block when it takes nothing now, or when the transport cannot
  // write this way (the default). Never while a writeSome is pending on the stream.
  virtual std::size_t tryWrite(boost::asio::const_buffer data, ErrorCode& ec) {
    (void)data;
    ec = boost::asio::error::would_block;
    return 0;
  }
  // Half-close: the peer reads EOF, this side can still read. Completes on the executor.
  virtual void shutdownSend(std::function<void(ErrorCode)> handler) = 0;
  // Closes both directions now; pending operations complete with operation_aborted.
  virtual void close() = 0;
  // A short description for logs ("unix:/path", "tcp:127.0.0.1:2376+tls").
  virtual std::string describe() const = 0;
};

using ByteStreamPtr = std::unique_ptr<ByteStream>;

}  // namespace berth::net
