#include "forwarding/EngineClient.h"

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "server/net/StreamAdapter.h"

namespace berth::fwd {
namespace http = boost::beast::http;

namespace {

constexpr std::size_t kMaxBody = 64 * 1024 * 1024;  // a /containers/json of many containers
constexpr std::size_t kMaxLine = 1024 * 1024;

http::request<http::empty_body> makeRequest(const std::string& target) {
  http::request<http::empty_body> request{http::verb::get, target, 11};
  request.set(http::field::host, "docker");
  request.set(http::field::user_agent, "berth-forwarding");
  return request;
}

// One GET: connect, write, read the whole (bounded) reply, close.
struct GetCall : std::enable_shared_from_this<GetCall> {
  net::ByteStreamPtr stream;
  std::unique_ptr<net::StreamAdapter> io;
  http::request<http::empty_body> request;
  boost::beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  EngineClient::GetHandler handler;

  void run(net::ByteStreamPtr s) {
    stream = std::move(s);
    io = std::make_unique<net::StreamAdapter>(*stream);
    parser.body_limit(kMaxBody);
    http::async_write(*io, request, [self = shared_from_this()](net::ErrorCode ec, std::size_t) {
      if (ec) return self->finish("write: " + ec.message());
      http::async_read(*self->io, self->buffer, self->parser,
                       [self](net::ErrorCode ec2, std::size_t) {
                         if (ec2) return self->finish("read: " + ec2.message());
                         self->finish({});
                       });
    });
  }
  void finish(std::string error) {
    int status = parser.is_header_done() ? static_cast<int>(parser.get().result_int()) : 0;
    std::string body = error.empty() ? std::move(parser.get().body()) : std::string();
    stream->close();
    auto h = std::move(handler);
    h(std::move(error), status, std::move(body));
  }
};

class LineStream final : public EngineClient::Stream,
                         public std::enable_shared_from_this<LineStream> {
 public:
  LineStream(std::function<void()> on_open, EngineClient::LineHandler on_line,
             EngineClient::EndHandler on_end)
      : on_open_(std::move(on_open)), on_line_(std::move(on_line)), on_end_(std::move(on_end)) {
    parser_.body_limit(boost::none);  // a live stream has no end
  }

  void run(net::ByteStreamPtr s, const std::string& target) {
    if (cancelled_) return s->close();
    stream_ = std::move(s);
    io_ = std::make_unique<net::StreamAdapter>(*stream_);
    request_ = makeRequest(target);
    http::async_write(*io_, request_, [self = shared_from_this()](net::ErrorCode ec, std::size_t) {
      if (ec) return self->end("write: " + ec.message());
      http::async_read_header(*self->io_, self->buffer_, self->parser_,
                              [self](net::ErrorCode ec2, std::size_t) { self->onHeader(ec2); });
    });
  }

  void cancel() override {
    cancelled_ = true;
    if (stream_) stream_->close();
  }

  void end(std::string reason) {
    if (stream_) stream_->close();
    if (cancelled_ || ended_) return;
    ended_ = true;
    auto h = std::move(on_end_);
    h(std::move(reason));
  }

 private:
  void onHeader(net::ErrorCode ec) {
    if (ec) return end("read: " + ec.message());
    if (parser_.get().result_int() != 200) {
      return end("engine answered " + std::to_string(parser_.get().result_int()));
    }
    if (cancelled_) return;
    on_open_();
    readMore();
  }

  void readMore() {
    if (cancelled_) return;
    auto& body = parser_.get().body();
    body.data = chunk_.data();
    body.size = chunk_.size();
    http::async_read_some(
        *io_, buffer_, parser_,
        [self = shared_from_this()](net::ErrorCode ec, std::size_t) { self->onBody(ec); });
  }

  void onBody(net::ErrorCode ec) {
    if (ec == http::error::need_buffer) ec = {};
    if (cancelled_) return;
    std::size_t got = chunk_.size() - parser_.get().body().size;
    pending_.append(chunk_.data(), got);
    std::size_t start = 0;
    for (auto nl = pending_.find('\n'); nl != std::string::npos; nl = pending_.find('\n', start)) {
      std::string_view line(pending_.data() + start, nl - start);
      start = nl + 1;
      if (!line.empty()) on_line_(line);
      if (cancelled_) return;
    }
    pending_.erase(0, start);
    if (pending_.size() > kMaxLine) return end("event record too long");
    if (ec) return end("read: " + ec.message());
    if (parser_.is_done()) return end("engine ended the stream");
    readMore();
  }

  std::function<void()> on_open_;
  EngineClient::LineHandler on_line_;
  EngineClient::EndHandler on_end_;
  net::ByteStreamPtr stream_;
  std::unique_ptr<net::StreamAdapter> io_;
  http::request<http::empty_body> request_;
  boost::beast::flat_buffer buffer_;
  http::response_parser<http::buffer_body> parser_;
  std::array<char, 16384> chunk_{};
  std::string pending_;
  bool cancelled_ = false;
  bool ended_ = false;
};

}  // namespace

EngineClient::EngineClient(net::ConnectorPtr connector, boost::asio::any_io_executor executor)
    : connector_(std::move(connector)), executor_(std::move(executor)) {}

void EngineClient::get(std::string target, GetHandler handler) {
  auto call = std::make_shared<GetCall>();
  call->request = makeRequest(target);
  call->handler = std::move(handler);
  connector_->connect(executor_, [call](net::ByteStreamPtr stream, const net::ConnectError* error) {
    if (error) {
      auto h = std::move(call->handler);
      return h(error->message, 0, {});
    }
    call->run(std::move(stream));
  });
}

std::shared_ptr<EngineClient::Stream> EngineClient::stream(std::string target,
                                                           std::function<void()> on_open,
                                                           LineHandler on_line, EndHandler on_end) {
  auto line_stream =
      std::make_shared<LineStream>(std::move(on_open), std::move(on_line), std::move(on_end));
  connector_->connect(executor_, [line_stream, target = std::move(target)](
                                     net::ByteStreamPtr stream, const net::ConnectError* error) {
    if (error) return line_stream->end(error->message);
    line_stream->run(std::move(stream), target);
  });
  return line_stream;
}

}  // namespace berth::fwd
