#include "forwarding/EngineClient.h"

#include "server/net/HttpExchange.h"

namespace berth::fwd {

namespace {

constexpr std::size_t kMaxLine = std::size_t{1024} * 1024;

// The caller's handle of a byte stream: cancel() reaches the exchange.
class ExchangeStream final : public EngineClient::Stream {
 public:
  explicit ExchangeStream(std::shared_ptr<net::HttpExchange> exchange)
      : exchange_(std::move(exchange)) {}
  void cancel() override { exchange_->cancel(); }

 private:
  std::shared_ptr<net::HttpExchange> exchange_;
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
  net::HttpExchange::Handlers handlers;
  handlers.on_end = [handler = std::move(handler)](int status, std::string reply,
                                                   std::string error) {
    handler(std::move(error), status, std::move(reply));
  };
  net::HttpExchange::start(*connector_, executor_,
                           {std::move(method), std::move(target), "docker", std::move(body)},
                           net::HttpExchange::Mode::Whole, std::move(handlers));
}

std::shared_ptr<EngineClient::Stream> EngineClient::streamBytes(std::string method,
                                                                std::string target,
                                                                ByteHandlers handlers) {
  net::HttpExchange::Handlers h;
  if (handlers.on_head)
    h.on_head = [on_head = std::move(handlers.on_head)](const net::HttpExchange::Head& head) {
      on_head(head.status);
    };
  h.on_data = std::move(handlers.on_data);
  if (handlers.on_end)
    h.on_end = [on_end = std::move(handlers.on_end)](int status, const std::string&,
                                                     std::string error) {
      on_end(status, std::move(error));
    };
  return std::make_shared<ExchangeStream>(net::HttpExchange::start(
      *connector_, executor_, {std::move(method), std::move(target), "docker", {}},
      net::HttpExchange::Mode::Stream, std::move(h)));
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
