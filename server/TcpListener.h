#pragma once
// TcpListener: accepts TCP connections on HOST:PORT and hands each, on the executor
// Options::place gives (as UnixListener), to `on_accept` — after a TLS handshake that verified the
// client's certificate when a server TlsContext is given (the normal case), or as plain TCP when it
// is null (only for an explicit
// --insecure on loopback; the caller enforces that). Handshakes are bounded in time and in
// number, so a client that connects and stalls cannot hold fds for long. A refused handshake is
// logged and closed; nothing reaches the relay. Thread-safe: open/start/stop from one thread.
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "server/net/ByteStream.h"
#include "server/net/ConnectionExecutor.h"
#include "server/net/TlsContext.h"

namespace berth::server {

class TcpListener : public std::enable_shared_from_this<TcpListener> {
 public:
  using AcceptHandler = std::function<void(net::ByteStreamPtr)>;

  struct Options {
    std::chrono::milliseconds handshake_timeout{10000};
    std::size_t max_pending_handshakes = 64;
    net::Placement place = {};  // where connections run (net::Placement); empty: a strand each
  };

  TcpListener(boost::asio::io_context& io, std::string host, std::uint16_t port,
              net::TlsContextPtr tls, AcceptHandler on_accept, Options options);
  TcpListener(boost::asio::io_context& io, std::string host, std::uint16_t port,
              net::TlsContextPtr tls, AcceptHandler on_accept)
      : TcpListener(io, std::move(host), port, std::move(tls), std::move(on_accept), Options{}) {}
  // Binds and listens; throws std::runtime_error with one clear line on failure.
  void open();
  void start();
  void stop();
  // The bound port (useful with port 0).
  std::uint16_t port() const;
  std::string describe() const;

 private:
  void accept();
  void handshake(boost::asio::ip::tcp::socket socket, const std::string& peer);

  boost::asio::io_context& io_;
  std::string host_;
  std::uint16_t port_;
  net::TlsContextPtr tls_;
  AcceptHandler on_accept_;
  Options options_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::atomic<std::size_t> pending_handshakes_{0};  // touched from connection strands
  std::atomic<bool> stopped_{false};
};

}  // namespace berth::server
