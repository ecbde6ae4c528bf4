#include "server/TcpListener.h"

#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/steady_timer.hpp>
#include <stdexcept>

#include "server/net/ConnectionExecutor.h"
#include "server/net/Log.h"
#include "server/net/SocketStream.h"
#include "server/net/TlsStream.h"

namespace berth::server {
using Tcp = boost::asio::ip::tcp;

TcpListener::TcpListener(boost::asio::io_context& io, std::string host, std::uint16_t port,
                         net::TlsContextPtr tls, AcceptHandler on_accept, Options options)
    : io_(io),
      host_(std::move(host)),
      port_(port),
      tls_(std::move(tls)),
      on_accept_(std::move(on_accept)),
      options_(std::move(options)),
      acceptor_(io) {}

void TcpListener::open() {
  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address(host_, ec);
  if (ec) {
    throw std::runtime_error("cannot listen on tcp://" + host_ + ":" + std::to_string(port_) +
                             ": '" + host_ + "' is not an IP address");
  }
  Tcp::endpoint endpoint(address, port_);
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(Tcp::acceptor::reuse_address(true), ec);
  if (!ec && address.is_v6()) acceptor_.set_option(boost::asio::ip::v6_only(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(boost::asio::socket_base::max_listen_connections, ec);
  if (ec) throw std::runtime_error("cannot listen on " + describe() + ": " + ec.message());
  port_ = acceptor_.local_endpoint().port();
}

std::uint16_t TcpListener::port() const { return port_; }

std::string TcpListener::describe() const {
  bool v6 = host_.find(':') != std::string::npos;
  return "tcp://" + (v6 ? "[" + host_ + "]" : host_) + ":" + std::to_string(port_) +
         (tls_ ? " (mutual TLS)" : " (plain, insecure)");
}

void TcpListener::start() { accept(); }

void TcpListener::accept() {
  acceptor_.async_accept(
      net::connectionExecutor(io_, options_.place),
      [self = shared_from_this()](boost::system::error_code ec, Tcp::socket socket) {
        if (self->stopped_) return;
        if (ec) {
          BERTH_LOG(Warn, "listener", "accept on " << self->describe() << ": " << ec.message());
          if (ec == boost::asio::error::no_descriptors ||
              ec == boost::asio::error::no_buffer_space) {
            // Out of fds: retry later instead of spinning.
            auto timer = std::make_shared<boost::asio::steady_timer>(self->io_);
            timer->expires_after(std::chrono::milliseconds(100));
            timer->async_wait([self, timer](boost::system::error_code) { self->accept(); });
            return;
          }
          self->accept();
          return;
        }
        boost::system::error_code ignored;
        socket.set_option(Tcp::no_delay(true), ignored);
        auto remote = socket.remote_endpoint(ignored);
        std::string peer = remote.address().to_string() + ":" + std::to_string(remote.port());
        if (!self->tls_) {
          self->on_accept_(std::make_unique<net::TcpStream>(std::move(socket), "tcp:" + peer));
        } else if (self->pending_handshakes_ >= self->options_.max_pending_handshakes) {
          BERTH_LOG(Warn, "listener", "refusing " << peer << ": too many TLS handshakes pending");
          socket.close(ignored);
        } else {
          self->handshake(std::move(socket), peer);
        }
        self->accept();
      });
}

void TcpListener::handshake(Tcp::socket socket, const std::string& peer) {
  ++pending_handshakes_;
  auto executor = socket.get_executor();
  auto stream = std::make_shared<std::unique_ptr<net::TlsStream>>(std::make_unique<net::TlsStream>(
      std::move(socket), tls_, std::string(), "tcp:" + peer + "+tls"));
  auto timer = std::make_shared<boost::asio::steady_timer>(executor);
  timer->expires_after(options_.handshake_timeout);
  timer->async_wait([stream, peer](boost::system::error_code ec) {
    if (ec || !*stream) return;
    BERTH_LOG(Info, "listener", "TLS handshake from " << peer << " timed out");
    (*stream)->close();
  });
  (*stream)->handshake(
      [self = shared_from_this(), stream, timer, peer](boost::system::error_code ec) {
        --self->pending_handshakes_;
        timer->cancel();
        if (ec) {
          std::string why = (*stream)->verifyError();
          if (ec != boost::asio::error::operation_aborted) {
            BERTH_LOG(Info, "listener",
                      "TLS handshake from " << peer << " refused: " << ec.message()
                                            << (why.empty() ? "" : " (" + why + ")"));
          }
          stream->reset();
          return;
        }
        if (self->stopped_) {
          stream->reset();
          return;
        }
        BERTH_LOG(Debug, "listener",
                  "TLS client " << peer << " verified: " << (*stream)->peerSubject());
        net::ByteStreamPtr accepted = std::move(*stream);
        self->on_accept_(std::move(accepted));
      });
}

void TcpListener::stop() {
  if (stopped_) return;
  stopped_ = true;
  boost::system::error_code ignored;
  acceptor_.close(ignored);
}

}  // namespace berth::server
