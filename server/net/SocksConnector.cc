#include "server/net/SocksConnector.h"

#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <functional>

#include "server/net/SocketStream.h"

namespace berth::net {
namespace {

using Protocol = boost::asio::local::stream_protocol;

// One connect in flight: the socket, the bytes of the current step and the handler.
struct Handshake : std::enable_shared_from_this<Handshake> {
  Handshake(const boost::asio::any_io_executor& executor, std::string what, ConnectHandler handler)
      : socket(executor), description(std::move(what)), done(std::move(handler)) {}

  void fail(const std::string& why) {
    ErrorCode ignored;
    socket.close(ignored);
    ConnectError error{502, "cannot reach " + description + ": " + why};
    done(nullptr, &error);
  }
  std::string ioText(const ErrorCode& ec) const {
    return ec == boost::asio::error::eof ? "connection refused or unreachable (the proxy closed)"
                                         : ec.message();
  }

  // Writes `out` (when not empty), reads `size` bytes into `in`, then runs `next`.
  void step(std::size_t size, std::function<void()> next) {
    auto read = [self = shared_from_this(), size, next = std::move(next)] {
      boost::asio::async_read(self->socket, boost::asio::buffer(self->in, size),
                              [self, next](ErrorCode ec, std::size_t) {
                                if (ec) return self->fail(self->ioText(ec));
                                next();
                              });
    };
    if (out.empty()) return read();
    boost::asio::async_write(socket, boost::asio::buffer(out),
                             [self = shared_from_this(), read](ErrorCode ec, std::size_t) {
                               if (ec) return self->fail(self->ioText(ec));
                               read();
                             });
  }

  Protocol::socket socket;
  std::string description;
  ConnectHandler done;
  std::string out;
  unsigned char in[18] = {};  // the longest step: an IPv6 address and port
};

}  // namespace

SocksConnector::SocksConnector(std::string proxy_path, boost::asio::ip::tcp::endpoint target,
                               std::string description)
    : proxy_path_(std::move(proxy_path)),
      target_(std::move(target)),
      description_(std::move(description)) {}

std::string SocksConnector::connectRequest(const boost::asio::ip::tcp::endpoint& target) {
  std::string out = {'\x05', '\x01', '\x00'};
  const auto address = target.address();
  if (address.is_v4()) {
    out += '\x01';
    for (const auto byte : address.to_v4().to_bytes()) out += static_cast<char>(byte);
  } else {
    out += '\x04';
    for (const auto byte : address.to_v6().to_bytes()) out += static_cast<char>(byte);
  }
  out += static_cast<char>(target.port() >> 8);
  out += static_cast<char>(target.port() & 0xff);
  return out;
}

std::string SocksConnector::replyText(unsigned char code) {
  switch (code) {
    case 1:
      return "general SOCKS server failure";
    case 2:
      return "connection not allowed by ruleset";
    case 3:
      return "network unreachable";
    case 4:
      return "host unreachable";
    case 5:
      return "connection refused";
    case 6:
      return "TTL expired";
    case 7:
      return "command not supported";
    case 8:
      return "address type not supported";
    default:
      return "SOCKS reply " + std::to_string(code);
  }
}

void SocksConnector::connect(boost::asio::any_io_executor executor, ConnectHandler handler) {
  auto hs = std::make_shared<Handshake>(std::move(executor), description_, std::move(handler));
  hs->socket.async_connect(Protocol::endpoint(proxy_path_), [hs, request = connectRequest(target_),
                                                             proxy = proxy_path_](ErrorCode ec) {
    if (ec) return hs->fail("its proxy " + proxy + ": " + ec.message());
    hs->out = {'\x05', '\x01', '\x00'};  // version 5, one method: no authentication
    hs->step(2, [hs, request] {
      if (hs->in[0] != 5 || hs->in[1] != 0)
        return hs->fail("the proxy refused the greeting (no authentication)");
      hs->out = request;
      // The reply's head, then its bound address (OpenSSH's is always IPv4) and port.
      hs->step(4, [hs] {
        if (hs->in[0] != 5) return hs->fail("not a SOCKS5 reply");
        if (hs->in[1] != 0) return hs->fail(replyText(hs->in[1]));
        if (hs->in[3] != 1 && hs->in[3] != 4) return hs->fail("a SOCKS5 reply it cannot read");
        hs->out.clear();
        hs->step(hs->in[3] == 1 ? 6 : 18, [hs] {
          hs->done(std::make_unique<UnixStream>(std::move(hs->socket), hs->description), nullptr);
        });
      });
    });
  });
}

}  // namespace berth::net
