#include "forwarding/EngineClient.h"

#include <array>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "server/net/StreamAdapter.h"

namespace berth::fwd {
namespace http = boost::beast::http;

namespace {

constexpr std::size_t kMaxWholeBody = 64 * 1024 * 1024;  // a /containers/json of many containers
constexpr std::size_t kMaxLine = 1024 * 1024;

// One exchange: connect, write the request, read the reply head, then its body in chunks, which
// go to on_data (stream mode) or into `body_` (whole mode, bounded). Owns itself through the
// handlers of its pending operations.
class Exchange final : public EngineClient::Stream, public std::enable_shared_from_this<Exchange> {
 public:
  explicit Exchange(EngineClient::ByteHandlers handlers)
      : whole_(false), handlers_(std::move(handlers)) {}
  explicit Exchange(EngineClient::ReplyHandler reply) : whole_(true), reply_(std::move(reply)) {}

  void start(net::Connector& connector, const boost::asio::any_io_executor& executor,
             std::string method, std::string target, std::string body) {
    request_.method_string(method);
    request_.target(target);
    request_.version(11);
    request_.set(http::field::host, "docker");
    request_.set(http::field::user_agent, "berth");
    if (!body.empty()) request_.set(http::field::content_type, "application/json");
    // Docker wants a length on every POST, even an empty one.
    if (!body.empty() || request_.method() != http::verb::get) request_.content_length(body.size());
    request_.body() = std::move(body);
    connector.connect(executor, [self = shared_from_this()](net::ByteStreamPtr stream,
                                                            const net::ConnectError* error) {
      if (error) return self->finish(0, error->message);
      if (self->done_) return stream->close();  // cancelled while connecting
      self->stream_ = std::move(stream);
      self->io_ = std::make_unique<net::StreamAdapter>(*self->stream_);
      http::async_write(*self->io_, self->request_, [self](net::ErrorCode ec, std::size_t) {
        if (ec) return self->finish(0, "writing to the engine: " + ec.message());
        self->readHeader();
      });
    });
  }

  void cancel() override {
    done_ = true;
    handlers_ = {};  // drops what the handlers hold (their owner) now
    reply_ = {};
    if (stream_) stream_->close();
  }

 private:
  void readHeader() {
    parser_.body_limit(whole_ ? boost::optional<std::uint64_t>(kMaxWholeBody) : boost::none);
    http::async_read_header(
        *io_, buffer_, parser_, [self = shared_from_this()](net::ErrorCode ec, std::size_t) {
          if (self->done_) return;
          if (ec) return self->finish(0, "reading the engine's reply: " + ec.message());
          self->status_ = self->parser_.get().result_int();
          // A copy: the handler may cancel this exchange.
          if (auto on_head = self->handlers_.on_head) on_head(self->status_);
          self->readBody();
        });
  }

  void readBody() {
    if (done_) return;
    if (parser_.is_done()) return finish(status_, {});
    auto& window = parser_.get().body();
    window.data = chunk_.data();
    window.size = chunk_.size();
    http::async_read_some(
        *io_, buffer_, parser_,
        [self = shared_from_this()](net::ErrorCode ec, std::size_t) { self->onBody(ec); });
  }

  void onBody(net::ErrorCode ec) {
    if (done_) return;
    const std::size_t got = chunk_.size() - parser_.get().body().size;
    if (got > 0) {
      const std::string_view bytes(chunk_.data(), got);
      if (whole_) {
        body_.append(bytes);
      } else if (auto on_data = handlers_.on_data) {  // a copy: it may cancel this exchange
        on_data(bytes);
        if (done_) return;
      }
    }
    if (ec == http::error::need_buffer) ec = {};
    if (ec == http::error::end_of_stream || ec == boost::asio::error::eof)
      return finish(status_, {});
    if (ec) return finish(0, "reading the engine's reply: " + ec.message());
    readBody();
  }

  void finish(int status, std::string error) {
    if (done_) return;
    done_ = true;
    if (stream_) stream_->close();
    if (whole_) {
      auto reply = std::move(reply_);
      if (!error.empty()) return reply(std::move(error), 0, {});
      return reply({}, status, std::move(body_));
    }
    auto on_end = std::move(handlers_.on_end);
    handlers_ = {};
    if (on_end) on_end(status, std::move(error));
  }

  const bool whole_;
  EngineClient::ByteHandlers handlers_;  // stream mode
  EngineClient::ReplyHandler reply_;     // whole mode
  net::ByteStreamPtr stream_;
  std::unique_ptr<net::StreamAdapter> io_;
  http::request<http::string_body> request_;
  boost::beast::flat_buffer buffer_;
  http::response_parser<http::buffer_body> parser_;
  std::array<char, 16384> chunk_{};
  std::string body_;  // whole mode
  int status_ = 0;
  bool done_ = false;
};

// Cuts a byte stream into records; ends the stream on a non-200 head or an overlong record.
class LineSplitter final : public EngineClient::Stream,
                           public std::enable_shared_from_this<LineSplitter> {
 public:
  LineSplitter(std::function<void()> on_open, EngineClient::LineHandler on_line,
               EngineClient::EndHandler on_end)
      : on_open_(std::move(on_open)), on_line_(std::move(on_line)), on_end_(std::move(on_end)) {}

  // The running exchange keeps its splitter alive (as the caller may drop its handle); the
  // splitter only observes the exchange, so no cycle outlives the stream.
  EngineClient::ByteHandlers handlers() {
    EngineClient::ByteHandlers h;
    h.on_head = [self = shared_from_this()](int status) { self->onHead(status); };
    h.on_data = [self = shared_from_this()](std::string_view bytes) { self->onData(bytes); };
    h.on_end = [self = shared_from_this()](int, std::string error) {
      self->end(error.empty() ? "engine ended the stream" : std::move(error));
    };
    return h;
  }

  void attach(const std::shared_ptr<EngineClient::Stream>& exchange) {
    exchange_ = exchange;
    if (ended_) exchange->cancel();
  }

  void cancel() override {
    ended_ = true;
    on_open_ = {};
    on_line_ = {};
    on_end_ = {};
    if (auto exchange = exchange_.lock()) exchange->cancel();
  }

 private:
  void onHead(int status) {
    if (status != 200) return end("engine answered " + std::to_string(status));
    if (auto on_open = on_open_) on_open();
  }

  void onData(std::string_view bytes) {
    auto on_line = on_line_;  // a copy: a record's handler may cancel the stream
    pending_.append(bytes);
    std::size_t start = 0;
    for (auto nl = pending_.find('\n'); nl != std::string::npos; nl = pending_.find('\n', start)) {
      const std::string_view line(pending_.data() + start, nl - start);
      start = nl + 1;
      if (!line.empty() && on_line) on_line(line);
      if (ended_) return;
    }
    pending_.erase(0, start);
    if (pending_.size() > kMaxLine) end("event record too long");
  }

  void end(std::string reason) {
    if (ended_) return;
    auto on_end = std::move(on_end_);
    cancel();
    if (on_end) on_end(std::move(reason));
  }

  std::function<void()> on_open_;
  EngineClient::LineHandler on_line_;
  EngineClient::EndHandler on_end_;
  std::weak_ptr<EngineClient::Stream> exchange_;
  std::string pending_;
  bool ended_ = false;
};

}  // namespace

EngineClient::EngineClient(net::ConnectorPtr connector, boost::asio::any_io_executor executor)
    : connector_(std::move(connector)), executor_(std::move(executor)) {}

void EngineClient::call(std::string method, std::string target, std::string body,
                        ReplyHandler handler) {
  auto exchange = std::make_shared<Exchange>(std::move(handler));
  exchange->start(*connector_, executor_, std::move(method), std::move(target), std::move(body));
}

std::shared_ptr<EngineClient::Stream> EngineClient::streamBytes(std::string method,
                                                                std::string target,
                                                                ByteHandlers handlers) {
  auto exchange = std::make_shared<Exchange>(std::move(handlers));
  exchange->start(*connector_, executor_, std::move(method), std::move(target), {});
  return exchange;
}

std::shared_ptr<EngineClient::Stream> EngineClient::stream(std::string target,
                                                           std::function<void()> on_open,
                                                           LineHandler on_line, EndHandler on_end) {
  auto splitter =
      std::make_shared<LineSplitter>(std::move(on_open), std::move(on_line), std::move(on_end));
  splitter->attach(streamBytes("GET", std::move(target), splitter->handlers()));
  return splitter;
}

}  // namespace berth::fwd
