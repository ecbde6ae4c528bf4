#include "server/net/HttpExchange.h"

#include <array>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <limits>

#include "server/net/StreamAdapter.h"

namespace berth::net {
namespace http = boost::beast::http;

namespace {
constexpr std::uint64_t kMaxWholeBody = std::uint64_t{64} << 20;  // a /containers/json of many
}  // namespace

struct HttpExchange::State {
  ByteStreamPtr stream;
  std::unique_ptr<StreamAdapter> io;
  http::request<http::string_body> request;
  boost::beast::flat_buffer buffer;
  http::response_parser<http::buffer_body> parser;
  std::array<char, std::size_t{64} << 10> chunk{};
  std::string body;  // whole mode
};

HttpExchange::HttpExchange(std::string description, Mode mode, Handlers handlers)
    : description_(std::move(description)),
      mode_(mode),
      handlers_(std::move(handlers)),
      state_(std::make_unique<State>()) {}

HttpExchange::~HttpExchange() = default;

std::shared_ptr<HttpExchange> HttpExchange::start(Connector& connector,
                                                  const boost::asio::any_io_executor& executor,
                                                  Request request, Mode mode, Handlers handlers) {
  auto exchange = std::make_shared<HttpExchange>(connector.describe(), mode, std::move(handlers));
  auto& r = exchange->state_->request;
  r.method_string(request.method);
  r.target(request.target);
  r.version(11);
  r.set(http::field::host, request.host);
  r.set(http::field::user_agent, "berth");
  r.set(http::field::connection, "close");
  if (!request.body.empty()) r.set(http::field::content_type, "application/json");
  // Docker wants a length on every POST, even an empty one.
  if (!request.body.empty() || r.method() == http::verb::post || r.method() == http::verb::put)
    r.content_length(request.body.size());
  r.body() = std::move(request.body);

  auto& parser = exchange->state_->parser;
  parser.header_limit(64 * 1024);
  // Not boost::none for a stream: Boost 1.74 compares a Content-Length with the optional itself,
  // and any length is larger than none.
  parser.body_limit(mode == Mode::Whole ? kMaxWholeBody
                                        : std::numeric_limits<std::uint64_t>::max());
  connector.connect(executor, [self = exchange](ByteStreamPtr stream, const ConnectError* failed) {
    if (self->done_) {  // cancelled or expired while connecting
      if (stream) stream->close();
      return;
    }
    if (failed) return self->finish(0, failed->message);
    self->send(std::move(stream));
  });
  return exchange;
}

void HttpExchange::send(ByteStreamPtr stream) {
  progress_ = Clock::now();
  state_->stream = std::move(stream);
  state_->io = std::make_unique<StreamAdapter>(*state_->stream);
  phase_ = "sending to";
  http::async_write(
      *state_->io, state_->request, [self = shared_from_this()](ErrorCode ec, std::size_t) {
        if (self->done_) return;
        if (ec)
          return self->finish(0, "cannot send to " + self->description_ + ": " + ec.message());
        self->progress_ = Clock::now();
        self->phase_ = "waiting for an answer from";
        self->readHead();
      });
}

void HttpExchange::readHead() {
  http::async_read_header(
      *state_->io, state_->buffer, state_->parser,
      [self = shared_from_this()](ErrorCode ec, std::size_t) {
        if (self->done_) return;
        if (ec) return self->finish(0, self->readError(ec));
        self->progress_ = Clock::now();
        // A whole answer is awaited as one; a stream is received piece by piece.
        if (self->mode_ == Mode::Stream) self->phase_ = "receiving from";
        const auto& head = self->state_->parser.get();
        self->status_ = static_cast<int>(head.result_int());
        if (self->mode_ == Mode::Stream && self->handlers_.on_head) {
          Head h{self->status_, std::string(head[http::field::location]),
                 self->state_->parser.content_length()
                     ? std::optional<std::uint64_t>(*self->state_->parser.content_length())
                     : std::nullopt};
          auto on_head = self->handlers_.on_head;  // a copy: it may cancel this exchange
          if (!self->guarded([&] { on_head(h); })) return;
        }
        self->readBody();
      });
}

void HttpExchange::readBody() {
  if (done_) return;
  if (state_->parser.is_done()) return finish(status_, {});
  auto& window = state_->parser.get().body();
  window.data = state_->chunk.data();
  window.size = state_->chunk.size();
  http::async_read_some(
      *state_->io, state_->buffer, state_->parser,
      [self = shared_from_this()](ErrorCode ec, std::size_t) { self->onBody(ec); });
}

void HttpExchange::onBody(ErrorCode ec) {
  if (done_) return;
  const std::size_t got = state_->chunk.size() - state_->parser.get().body().size;
  if (got > 0) {
    progress_ = Clock::now();
    const std::string_view bytes(state_->chunk.data(), got);
    if (mode_ == Mode::Whole) {
      state_->body.append(bytes);
    } else if (auto on_data = handlers_.on_data) {  // a copy: it may cancel this exchange
      if (!guarded([&] { on_data(bytes); })) return;
    }
  }
  if (ec == http::error::need_buffer) ec = {};
  if (ec) return finish(0, readError(ec));
  readBody();
}

std::string HttpExchange::readError(ErrorCode ec) const {
  if (ec == http::error::end_of_stream && !state_->parser.got_some())
    return description_ + " closed the connection without answering";
  if (ec == http::error::partial_message || ec == boost::asio::error::eof ||
      ec == http::error::end_of_stream)
    return description_ + " closed the connection in the middle of its answer";
  if (ec == http::error::body_limit)
    return "the answer from " + description_ + " is larger than 64 MiB";
  return "bad answer from " + description_ + ": " + ec.message();
}

template <class F>
bool HttpExchange::guarded(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    finish(0, e.what());
    return false;
  }
  return !done_;
}

void HttpExchange::cancel() {
  done_ = true;
  handlers_ = {};
  if (state_->stream) state_->stream->close();
}

void HttpExchange::expire(const std::string& what) {
  finish(0, what + " " + phase_ + " " + description_);
}

bool HttpExchange::done() const { return done_; }

HttpExchange::Clock::time_point HttpExchange::progress() const { return progress_; }

void HttpExchange::finish(int status, std::string error) {
  if (done_) return;
  done_ = true;
  if (state_->stream) state_->stream->close();
  auto on_end = std::move(handlers_.on_end);
  handlers_ = {};  // drops what the handlers hold (their owner) now
  std::string body =
      error.empty() && mode_ == Mode::Whole ? std::move(state_->body) : std::string();
  if (on_end) on_end(error.empty() ? status : 0, std::move(body), std::move(error));
}

}  // namespace berth::net
