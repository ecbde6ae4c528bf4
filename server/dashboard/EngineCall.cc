#include "server/dashboard/EngineCall.h"

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include "server/net/StreamAdapter.h"

namespace berth::server {
namespace http = boost::beast::http;
namespace {

constexpr std::size_t kMaxWholeBody = 8 * 1024 * 1024;

}  // namespace

struct EngineCall::State {
  net::ByteStreamPtr stream;
  std::unique_ptr<net::StreamAdapter> io;
  http::request<http::empty_body> request;
  boost::beast::flat_buffer buffer;
  http::response_parser<http::buffer_body> parser;
  char chunk[16 * 1024];
  std::string body;  // whole mode
  int status = 0;
};

EngineCall::EngineCall(boost::asio::any_io_executor executor, bool stream, Handlers handlers)
    : executor_(std::move(executor)),
      stream_mode_(stream),
      handlers_(std::move(handlers)),
      state_(std::make_unique<State>()) {}

EngineCall::~EngineCall() = default;

std::shared_ptr<EngineCall> EngineCall::start(boost::asio::any_io_executor executor,
                                              net::ConnectorPtr engine, std::string method,
                                              std::string target, bool stream, Handlers handlers) {
  auto call = std::make_shared<EngineCall>(std::move(executor), stream, std::move(handlers));
  call->run(std::move(engine), std::move(method), std::move(target));
  return call;
}

void EngineCall::run(net::ConnectorPtr engine, std::string method, std::string target) {
  auto& request = state_->request;
  request.method_string(method);
  request.target(target);
  request.version(11);
  request.set(http::field::host, "docker");
  request.set(http::field::user_agent, "berth-dashboard");
  if (method == "POST") request.set(http::field::content_length, "0");
  engine->connect(executor_, [self = shared_from_this()](net::ByteStreamPtr stream,
                                                         const net::ConnectError* error) {
    if (error) {
      self->finish(0, error->message);
      return;
    }
    if (self->done_) {  // cancelled while connecting
      stream->close();
      return;
    }
    self->state_->stream = std::move(stream);
    self->state_->io = std::make_unique<net::StreamAdapter>(*self->state_->stream);
    http::async_write(*self->state_->io, self->state_->request,
                      [self](net::ErrorCode ec, std::size_t) {
                        if (ec) return self->finish(0, "writing to the engine: " + ec.message());
                        self->readHeader();
                      });
  });
}

void EngineCall::readHeader() {
  state_->parser.body_limit(stream_mode_ ? boost::none
                                         : boost::optional<std::uint64_t>(kMaxWholeBody));
  http::async_read_header(*state_->io, state_->buffer, state_->parser,
                          [self = shared_from_this()](net::ErrorCode ec, std::size_t) {
                            if (ec)
                              return self->finish(0, "reading the engine's reply: " + ec.message());
                            self->state_->status = self->state_->parser.get().result_int();
                            // A copy: the handler may end this call (and clear handlers_).
                            if (auto on_head = self->handlers_.on_head;
                                self->stream_mode_ && on_head)
                              on_head(self->state_->status);
                            self->readBody();
                          });
}

void EngineCall::readBody() {
  if (done_) return;
  if (state_->parser.is_done()) return finish(state_->status, "");
  auto& window = state_->parser.get().body();
  window.data = state_->chunk;
  window.size = sizeof state_->chunk;
  http::async_read_some(*state_->io, state_->buffer, state_->parser,
                        [self = shared_from_this()](net::ErrorCode ec, std::size_t) {
                          if (self->done_) return;
                          auto& body = self->state_->parser.get().body();
                          const std::size_t got = sizeof self->state_->chunk - body.size;
                          if (got > 0) {
                            const std::string_view bytes(self->state_->chunk, got);
                            if (self->stream_mode_) {
                              // A copy: the handler may end this call (and clear handlers_).
                              if (auto on_data = self->handlers_.on_data) on_data(bytes);
                              if (self->done_) return;
                            } else {
                              self->state_->body.append(bytes);
                            }
                          }
                          if (ec == http::error::need_buffer) ec = {};
                          if (ec == http::error::end_of_stream || ec == boost::asio::error::eof)
                            return self->finish(self->state_->status, "");
                          if (ec)
                            return self->finish(0, "reading the engine's reply: " + ec.message());
                          self->readBody();
                        });
}

void EngineCall::finish(int status, std::string error) {
  if (done_) return;
  done_ = true;
  if (state_->stream) state_->stream->close();
  auto on_done = std::move(handlers_.on_done);
  handlers_ = {};  // drops what the handlers hold (their session) now
  if (on_done) on_done(status, std::move(state_->body), std::move(error));
}

void EngineCall::cancel() { finish(0, "cancelled"); }

}  // namespace berth::server
