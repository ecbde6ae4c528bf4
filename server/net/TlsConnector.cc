#include "server/net/TlsConnector.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "server/net/TlsStream.h"

namespace berth::net {
namespace {

using Tcp = boost::asio::ip::tcp;

// One connect attempt: resolve, connect, handshake, under one deadline. Completes once.
class TlsConnectAttempt : public std::enable_shared_from_this<TlsConnectAttempt> {
 public:
  TlsConnectAttempt(boost::asio::any_io_executor executor, std::string description,
                    std::string peer, ConnectHandler handler)
      : executor_(executor),
        resolver_(executor),
        socket_(executor),
        timer_(executor),
        description_(std::move(description)),
        peer_(std::move(peer)),
        handler_(std::move(handler)) {}

  void start(const std::string& host, std::uint16_t port, const TlsContextPtr& context,
             const std::string& server_name, std::chrono::milliseconds timeout) {
    context_ = context;
    server_name_ = server_name;
    timer_.expires_after(timeout);
    timer_.async_wait([self = shared_from_this()](ErrorCode ec) {
      if (ec || self->finished_) return;
      self->timed_out_ = true;
      ErrorCode ignored;
      self->resolver_.cancel();
      self->socket_.close(ignored);
      if (self->tls_) self->tls_->close();
    });
    resolver_.async_resolve(
        host, std::to_string(port),
        [self = shared_from_this()](ErrorCode ec, const Tcp::resolver::results_type& r) {
          if (ec) return self->fail("cannot resolve", ec);
          self->connectTo(r);
        });
  }

 private:
  void connectTo(const Tcp::resolver::results_type& endpoints) {
    boost::asio::async_connect(socket_, endpoints,
                               [self = shared_from_this()](ErrorCode ec, const Tcp::endpoint&) {
                                 if (ec) return self->fail("cannot reach", ec);
                                 self->handshake();
                               });
  }

  void handshake() {
    ErrorCode ignored;
    socket_.set_option(Tcp::no_delay(true), ignored);
    tls_ = std::make_unique<TlsStream>(std::move(socket_), context_, server_name_, description_);
    tls_->handshake([self = shared_from_this()](ErrorCode ec) {
      if (ec) {
        std::string why = self->tls_->verifyError();
        return self->fail("TLS handshake failed with", ec, why);
      }
      self->finished_ = true;
      self->timer_.cancel();
      self->handler_(std::move(self->tls_), nullptr);
    });
  }

  void fail(const char* what, ErrorCode ec, const std::string& detail = {}) {
    if (finished_) return;
    finished_ = true;
    timer_.cancel();
    std::string message = std::string(what) + " " + peer_ + " at " + description_ + ": " +
                          (timed_out_ ? std::string("timed out") : ec.message());
    if (!detail.empty()) message += " (" + detail + ")";
    ConnectError error{502, message};
    tls_.reset();
    handler_(nullptr, &error);
  }

  boost::asio::any_io_executor executor_;
  Tcp::resolver resolver_;
  Tcp::socket socket_;
  boost::asio::steady_timer timer_;
  std::string description_;
  std::string peer_;
  ConnectHandler handler_;
  TlsContextPtr context_;
  std::string server_name_;
  std::unique_ptr<TlsStream> tls_;
  bool finished_ = false;
  bool timed_out_ = false;
};

}  // namespace

TlsConnector::TlsConnector(std::string host, std::uint16_t port, TlsContextPtr context,
                           std::string server_name, std::chrono::milliseconds timeout)
    : host_(std::move(host)),
      port_(port),
      context_(std::move(context)),
      server_name_(server_name.empty() ? host_ : std::move(server_name)),
      timeout_(timeout) {}

std::shared_ptr<TlsConnector> TlsConnector::fromFiles(std::string host, std::uint16_t port,
                                                      const std::string& ca_file,
                                                      const std::string& cert_file,
                                                      const std::string& key_file,
                                                      std::string server_name) {
  auto context = TlsContext::load(TlsContext::Role::Client, ca_file, cert_file, key_file);
  return std::make_shared<TlsConnector>(std::move(host), port, std::move(context),
                                        std::move(server_name));
}

void TlsConnector::connect(boost::asio::any_io_executor executor, ConnectHandler handler) {
  auto attempt =
      std::make_shared<TlsConnectAttempt>(executor, describe(), peer_, std::move(handler));
  attempt->start(host_, port_, context_, server_name_, timeout_);
}

std::string TlsConnector::describe() const {
  bool v6 = host_.find(':') != std::string::npos;
  return "tcp://" + (v6 ? "[" + host_ + "]" : host_) + ":" + std::to_string(port_) + "+tls";
}

}  // namespace berth::net
