#pragma once
// TlsStream: a ByteStream that speaks TLS over a TCP socket, as client or server, OpenSSL driven
// through memory BIOs (not asio::ssl::stream) so that half-close works like Go's crypto/tls:
// shutdownSend() sends close_notify and reads keep working; a close_notify from the peer reads
// as EOF and writes keep working (`echo hi | docker exec -i c cat` over TLS needs both).
// Peers are verified against the context's CA; a client also checks the server's name or IP.
// Run handshake() first. Thread-safety as ByteStream: use it from its executor only; one read
// and one write may be pending at a time, as with a socket.
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <string>

#include "server/net/ByteStream.h"
#include "server/net/TlsContext.h"

namespace berth::net {

class TlsStream final : public ByteStream {
 public:
  // `peer_name` (client role): the DNS name or IP the server's certificate must carry; a name
  // is also sent as SNI. Ignored in the server role.
  TlsStream(boost::asio::ip::tcp::socket socket, TlsContextPtr context,
            const std::string& peer_name, std::string description);
  ~TlsStream() override;

  // The handshake, including the verification of the peer's certificate. On failure the error
  // (boost::asio::error::get_ssl_category()) says why, e.g. "certificate verify failed".
  void handshake(std::function<void(ErrorCode)> handler);

  boost::asio::any_io_executor executor() override;
  void readSome(boost::asio::mutable_buffer buffer, IoHandler handler) override;
  void writeSome(std::span<const boost::asio::const_buffer> buffers, IoHandler handler) override;
  void shutdownSend(std::function<void(ErrorCode)> handler) override;
  void close() override;
  std::string describe() const override { return description_; }

  // The peer certificate's subject (one line), for logs; empty before the handshake.
  std::string peerSubject() const;
  // Why verification failed, in OpenSSL's words ("unable to get local issuer certificate"),
  // empty when it did not.
  std::string verifyError() const;

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
  std::string description_;
};

}  // namespace berth::net
