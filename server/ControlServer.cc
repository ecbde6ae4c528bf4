#include "server/ControlServer.h"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "server/net/Log.h"
#include "server/net/StreamAdapter.h"

namespace berth::server {
namespace http = boost::beast::http;
namespace {

// One control connection: read a request (bounded in size and time), answer, close.
class ControlExchange : public std::enable_shared_from_this<ControlExchange> {
 public:
  ControlExchange(net::ByteStreamPtr stream, std::shared_ptr<ControlServer::Handler> handler)
      : stream_(std::move(stream)),
        io_(*stream_),
        handler_(std::move(handler)),
        timer_(stream_->executor()) {}

  void start() {
    parser_.body_limit(std::uint64_t{64} * 1024);
    timer_.expires_after(std::chrono::seconds(10));
    timer_.async_wait([self = shared_from_this()](net::ErrorCode ec) {
      if (!ec && !self->answered_) self->stream_->close();
    });
    http::async_read(
        io_, buffer_, parser_,
        [self = shared_from_this()](net::ErrorCode ec, std::size_t) { self->onRead(ec); });
  }

 private:
  void onRead(net::ErrorCode ec) {
    timer_.cancel();  // bounds the request only: a stop may take a while to answer
    if (ec) {
      stream_->close();
      return;
    }
    const auto& request = parser_.get();
    const std::string method(request.method_string());
    const std::string target(request.target());
    auto self = shared_from_this();
    auto executor = stream_->executor();
    (*handler_)(method, target, [self, executor](int status, nlohmann::json body) {
      boost::asio::post(
          executor, [self, status, body = std::move(body)] { self->answer(status, body.dump()); });
    });
  }

  void answer(int status, std::string body) {
    answered_ = true;
    response_.result(static_cast<http::status>(status));
    response_.version(10);
    response_.set(http::field::content_type, "application/json");
    response_.set(http::field::connection, "close");
    response_.body() = std::move(body) + "\n";
    response_.prepare_payload();
    http::async_write(io_, response_, [self = shared_from_this()](net::ErrorCode, std::size_t) {
      self->stream_->close();
    });
  }

  net::ByteStreamPtr stream_;
  net::StreamAdapter io_;
  std::shared_ptr<ControlServer::Handler> handler_;
  boost::asio::steady_timer timer_;
  boost::beast::flat_buffer buffer_;
  http::request_parser<http::string_body> parser_;
  http::response<http::string_body> response_;
  bool answered_ = false;
};

}  // namespace

ControlServer::ControlServer(boost::asio::io_context& io, std::string path, Handler handler)
    : io_(io), handler_(std::make_shared<Handler>(std::move(handler))) {
  auto h = handler_;
  listener_ = std::make_shared<UnixListener>(io_, std::move(path), [h](net::ByteStreamPtr stream) {
    std::make_shared<ControlExchange>(std::move(stream), h)->start();
  });
}

void ControlServer::open() {
  listener_->open();
  listener_->start();
  BERTH_LOG(Info, "control", "control API on unix://" << listener_->path());
}

void ControlServer::stop() { listener_->stop(); }

}  // namespace berth::server
