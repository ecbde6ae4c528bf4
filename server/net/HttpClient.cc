#include "server/net/HttpClient.h"

#include <boost/asio/io_context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <memory>
#include <thread>

#include "server/net/StreamAdapter.h"
#include "server/net/UnixConnector.h"

namespace berth::net {
namespace http = boost::beast::http;

namespace {

constexpr std::size_t kMaxBody = 64 * 1024 * 1024;  // a /containers/json of many containers

// One exchange on a private io_context. Its handlers hold it (shared_from_this), so an
// exchange abandoned at the deadline dies with the io_context's pending handlers.
class Exchange : public std::enable_shared_from_this<Exchange> {
 public:
  explicit Exchange(std::string description) : description_(std::move(description)) {
    parser_.body_limit(kMaxBody);
    parser_.header_limit(64 * 1024);
  }

  http::request<http::string_body> request;
  HttpResponse result;
  bool done = false;

  void start(Connector& connector, boost::asio::io_context& io) {
    phase_ = "connecting to";
    connector.connect(io.get_executor(),
                      [self = shared_from_this()](ByteStreamPtr stream, const ConnectError* error) {
                        if (error) return self->finish(error->message);
                        self->send(std::move(stream));
                      });
  }

  // The deadline passed: says where the exchange was, and drops the connection.
  void expire(std::chrono::milliseconds timeout) {
    if (done) return;
    done = true;
    result.status = 0;
    result.body.clear();
    result.error =
        "timed out after " + std::to_string(timeout.count()) + "ms " + phase_ + " " + description_;
    if (stream_) stream_->close();
  }

 private:
  void send(ByteStreamPtr stream) {
    stream_ = std::move(stream);
    io_ = std::make_unique<StreamAdapter>(*stream_);
    phase_ = "sending to";
    http::async_write(*io_, request, [self = shared_from_this()](ErrorCode ec, std::size_t) {
      if (ec) return self->finish("cannot send to " + self->description_ + ": " + ec.message());
      self->phase_ = "waiting for an answer from";
      http::async_read(*self->io_, self->buffer_, self->parser_,
                       [self](ErrorCode ec2, std::size_t) { self->received(ec2); });
    });
  }

  void received(ErrorCode ec) {
    if (ec == http::error::end_of_stream && !parser_.got_some()) {
      return finish(description_ + " closed the connection without answering");
    }
    if (ec == http::error::partial_message || ec == boost::asio::error::eof ||
        ec == http::error::end_of_stream) {
      return finish(description_ + " closed the connection in the middle of its answer");
    }
    if (ec == http::error::body_limit) {
      return finish("the answer from " + description_ + " is larger than 64 MiB");
    }
    if (ec) return finish("bad answer from " + description_ + ": " + ec.message());
    result.status = static_cast<int>(parser_.get().result_int());
    result.body = std::move(parser_.get().body());
    finish({});
  }

  void finish(std::string error) {
    if (done) return;
    done = true;
    result.error = std::move(error);
    if (stream_) stream_->close();
  }

  std::string description_;
  const char* phase_ = "connecting to";
  ByteStreamPtr stream_;
  std::unique_ptr<StreamAdapter> io_;
  boost::beast::flat_buffer buffer_;
  http::response_parser<http::string_body> parser_;
};

}  // namespace

HttpClient::HttpClient(ConnectorPtr connector) : connector_(std::move(connector)) {}

HttpClient HttpClient::unixSocket(const std::string& path) {
  return HttpClient(std::make_shared<UnixConnector>(path));
}

HttpResponse HttpClient::request(const std::string& method, const std::string& target,
                                 std::chrono::milliseconds timeout, const std::string& body) const {
  boost::asio::io_context io(1);
  auto exchange = std::make_shared<Exchange>(connector_->describe());
  auto& request = exchange->request;
  request.method_string(method);
  request.target(target);
  request.version(11);
  request.set(http::field::host, "docker");
  request.set(http::field::user_agent, "berth");
  request.set(http::field::connection, "close");
  if (!body.empty()) request.set(http::field::content_type, "application/json");
  request.body() = body;
  if (!body.empty() || method == "POST" || method == "PUT") request.prepare_payload();

  exchange->start(*connector_, io);
  const auto deadline = Clock::now() + timeout;
  while (!exchange->done && io.run_one_until(deadline) > 0) {
  }
  if (!exchange->done) exchange->expire(timeout);
  // Handlers still pending (a connect in progress, a read of the closed stream) are dropped
  // with `io`; they hold the exchange, never this frame.
  return std::move(exchange->result);
}

bool HttpClient::waitUntil(const std::string& target,
                           const std::function<bool(const HttpResponse&)>& accept, const Wait& wait,
                           HttpResponse* last) const {
  HttpResponse reply;
  reply.error = "not asked yet";
  bool accepted = false;
  for (;;) {
    if (wait.keep_waiting && !wait.keep_waiting()) break;
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(wait.deadline - Clock::now());
    if (left.count() <= 0) break;
    reply = get(target, std::min(left, wait.attempt));
    if (accept(reply)) {
      accepted = true;
      break;
    }
    std::this_thread::sleep_for(std::min(
        wait.interval,
        std::chrono::duration_cast<std::chrono::milliseconds>(wait.deadline - Clock::now())));
  }
  if (last) *last = std::move(reply);
  return accepted;
}

}  // namespace berth::net
