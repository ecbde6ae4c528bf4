#include "server/net/HttpClient.h"

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <limits>
#include <memory>
#include <thread>

#include "server/net/StreamAdapter.h"
#include "server/net/UnixConnector.h"

namespace berth::net {
namespace http = boost::beast::http;

namespace {

constexpr std::size_t kMaxBody = 64 * 1024 * 1024;  // a /containers/json of many containers

using Clock = HttpClient::Clock;

// One exchange on a private io_context: connect, send the request, then read the answer the
// subclass's way. Its handlers hold it (shared_from_this), so an exchange abandoned at the
// deadline dies with the io_context's pending handlers.
class ExchangeBase : public std::enable_shared_from_this<ExchangeBase> {
 public:
  explicit ExchangeBase(std::string description) : description_(std::move(description)) {}
  virtual ~ExchangeBase() = default;

  http::request<http::string_body> request;
  std::string error;
  bool done = false;
  Clock::time_point progress = Clock::now();  // the last step made (download's stall clock)

  void start(Connector& connector, boost::asio::io_context& io) {
    phase_ = "connecting to";
    connector.connect(io.get_executor(), [self = shared_from_this()](ByteStreamPtr stream,
                                                                     const ConnectError* failed) {
      if (failed) return self->finish(failed->message);
      self->send(std::move(stream));
    });
  }

  // The deadline passed: says where the exchange was, and drops the connection.
  void expire(const std::string& what) {
    if (done) return;
    done = true;
    error = what + " " + phase_ + " " + description_;
    expired();
    if (stream_) stream_->close();
  }

 protected:
  virtual void readAnswer() = 0;
  virtual void expired() {}

  // The line for a read that ended with `ec` (not success).
  std::string readError(ErrorCode ec, bool got_some) const {
    if (ec == http::error::end_of_stream && !got_some) {
      return description_ + " closed the connection without answering";
    }
    if (ec == http::error::partial_message || ec == boost::asio::error::eof ||
        ec == http::error::end_of_stream) {
      return description_ + " closed the connection in the middle of its answer";
    }
    if (ec == http::error::body_limit) {
      return "the answer from " + description_ + " is larger than 64 MiB";
    }
    return "bad answer from " + description_ + ": " + ec.message();
  }

  void finish(std::string why) {
    if (done) return;
    done = true;
    error = std::move(why);
    if (stream_) stream_->close();
  }

  std::string description_;
  const char* phase_ = "connecting to";
  ByteStreamPtr stream_;
  std::unique_ptr<StreamAdapter> io_;
  boost::beast::flat_buffer buffer_;

 private:
  void send(ByteStreamPtr stream) {
    progress = Clock::now();
    stream_ = std::move(stream);
    io_ = std::make_unique<StreamAdapter>(*stream_);
    phase_ = "sending to";
    http::async_write(*io_, request, [self = shared_from_this()](ErrorCode ec, std::size_t) {
      if (ec) return self->finish("cannot send to " + self->description_ + ": " + ec.message());
      self->progress = Clock::now();
      self->phase_ = "waiting for an answer from";
      self->readAnswer();
    });
  }
};

// The answer read whole into a string.
class Exchange final : public ExchangeBase {
 public:
  explicit Exchange(std::string description) : ExchangeBase(std::move(description)) {
    parser_.body_limit(kMaxBody);
    parser_.header_limit(64 * 1024);
  }

  HttpResponse result;

 private:
  void readAnswer() override {
    http::async_read(*io_, buffer_, parser_,
                     [self = std::static_pointer_cast<Exchange>(shared_from_this())](
                         ErrorCode ec, std::size_t) { self->received(ec); });
  }

  void expired() override {
    result.status = 0;
    result.body.clear();
  }

  void received(ErrorCode ec) {
    if (ec) return finish(readError(ec, parser_.got_some()));
    result.status = static_cast<int>(parser_.get().result_int());
    result.body = std::move(parser_.get().body());
    finish({});
  }

  http::response_parser<http::string_body> parser_;
};

// The answer's body handed on chunk by chunk (HttpClient::download).
class StreamExchange final : public ExchangeBase {
 public:
  StreamExchange(std::string description, const std::function<void(const HttpDownload&)>& on_head,
                 const std::function<void(const char*, std::size_t)>& sink)
      : ExchangeBase(std::move(description)), on_head_(on_head), sink_(sink) {
    // A release artifact is hundreds of MiB. (Not boost::none: Boost 1.74 compares the
    // Content-Length with the optional itself, and any length is larger than none.)
    parser_.body_limit(std::numeric_limits<std::uint64_t>::max());
    parser_.header_limit(64 * 1024);
  }

  HttpDownload result;

 private:
  std::shared_ptr<StreamExchange> self() {
    return std::static_pointer_cast<StreamExchange>(shared_from_this());
  }

  void readAnswer() override {
    http::async_read_header(*io_, buffer_, parser_,
                            [self = self()](ErrorCode ec, std::size_t) { self->gotHead(ec); });
  }

  void gotHead(ErrorCode ec) {
    if (ec) return finish(readError(ec, parser_.got_some()));
    progress = Clock::now();
    const auto& head = parser_.get();
    result.status = static_cast<int>(head.result_int());
    result.location = std::string(head[http::field::location]);
    if (auto length = parser_.content_length()) result.length = *length;
    if (!call([&] { on_head_(result); })) return;
    if (result.status != 200 || parser_.is_done()) return finish({});
    phase_ = "receiving from";
    readBody();
  }

  void readBody() {
    parser_.get().body().data = chunk_.data();
    parser_.get().body().size = chunk_.size();
    http::async_read_some(*io_, buffer_, parser_,
                          [self = self()](ErrorCode ec, std::size_t) { self->gotBody(ec); });
  }

  void gotBody(ErrorCode ec) {
    if (ec == http::error::need_buffer) ec = {};
    const std::size_t n = chunk_.size() - parser_.get().body().size;
    if (n > 0) {
      progress = Clock::now();
      result.received += n;
      if (!call([&] { sink_(chunk_.data(), n); })) return;
    }
    if (ec) return finish(readError(ec, true));
    if (parser_.is_done()) return finish({});
    readBody();
  }

  // Runs a callback; what it throws ends the exchange with its message.
  template <class F>
  bool call(F&& f) {
    try {
      f();
      return true;
    } catch (const std::exception& e) {
      finish(e.what());
      return false;
    }
  }

  const std::function<void(const HttpDownload&)>& on_head_;
  const std::function<void(const char*, std::size_t)>& sink_;
  http::response_parser<http::buffer_body> parser_;
  std::array<char, 64 * 1024> chunk_{};
};

void prepare(http::request<http::string_body>& request, const std::string& method,
             const std::string& target, const std::string& host) {
  request.method_string(method);
  request.target(target);
  request.version(11);
  request.set(http::field::host, host);
  request.set(http::field::user_agent, "berth");
  request.set(http::field::connection, "close");
}

}  // namespace

HttpClient::HttpClient(ConnectorPtr connector, std::string host)
    : connector_(std::move(connector)), host_(std::move(host)) {}

HttpClient HttpClient::unixSocket(const std::string& path) {
  return HttpClient(std::make_shared<UnixConnector>(path));
}

HttpResponse HttpClient::request(const std::string& method, const std::string& target,
                                 std::chrono::milliseconds timeout, const std::string& body) const {
  boost::asio::io_context io(1);
  auto exchange = std::make_shared<Exchange>(connector_->describe());
  auto& request = exchange->request;
  prepare(request, method, target, host_);
  if (!body.empty()) request.set(http::field::content_type, "application/json");
  request.body() = body;
  if (!body.empty() || method == "POST" || method == "PUT") request.prepare_payload();

  exchange->start(*connector_, io);
  const auto deadline = Clock::now() + timeout;
  while (!exchange->done && io.run_one_until(deadline) > 0) {
  }
  if (!exchange->done)
    exchange->expire("timed out after " + std::to_string(timeout.count()) + "ms");
  // Handlers still pending (a connect in progress, a read of the closed stream) are dropped
  // with `io`; they hold the exchange, never this frame.
  exchange->result.error = exchange->error;
  return std::move(exchange->result);
}

HttpDownload HttpClient::download(const std::string& target, std::chrono::milliseconds stall,
                                  const std::function<void(const HttpDownload&)>& on_head,
                                  const std::function<void(const char*, std::size_t)>& sink) const {
  boost::asio::io_context io(1);
  auto exchange = std::make_shared<StreamExchange>(connector_->describe(), on_head, sink);
  prepare(exchange->request, "GET", target, host_);
  exchange->start(*connector_, io);
  while (!exchange->done) {
    const bool ran = io.run_one_until(exchange->progress + stall) > 0;
    if (exchange->done) break;
    if (Clock::now() >= exchange->progress + stall || (!ran && io.stopped())) {
      exchange->expire("no data for " + std::to_string(stall.count()) + "ms");
    }
  }
  exchange->result.error = exchange->error;
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
