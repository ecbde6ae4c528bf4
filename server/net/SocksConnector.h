#pragma once
// SocksConnector: reaches one TCP address through a SOCKS5 proxy listening on a unix socket
// (OpenSSH's `ssh -D PATH`, which makes each connection a channel that the far end's sshd
// connects; vm::GuestSocksDialer). It sends the greeting (no authentication), waits for the
// choice, sends CONNECT for the IPv4 or IPv6 address, and hands over the stream once the proxy
// answers success: OpenSSH answers only after the far end connected, so a refused or
// unreachable target ends the handshake (EOF or a failure code) and fails the connect, as a
// refused direct connect would; the message says which. The two steps are not pipelined
// (OpenSSH reads the CONNECT only after it answered the greeting). Thread-safe; stateless.
#include <boost/asio/ip/tcp.hpp>

#include "server/net/Connector.h"

namespace berth::net {

class SocksConnector final : public Connector {
 public:
  SocksConnector(std::string proxy_path, boost::asio::ip::tcp::endpoint target,
                 std::string description);
  void connect(boost::asio::any_io_executor executor, ConnectHandler handler) override;
  std::string describe() const override { return description_; }

  // The CONNECT request for `target` (RFC 1928, section 4).
  static std::string connectRequest(const boost::asio::ip::tcp::endpoint& target);
  // Why a SOCKS5 reply code failed (RFC 1928, section 6).
  static std::string replyText(unsigned char code);

 private:
  std::string proxy_path_;
  boost::asio::ip::tcp::endpoint target_;
  std::string description_;
};

}  // namespace berth::net
