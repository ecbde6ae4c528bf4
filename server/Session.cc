#include "server/Session.h"

#include <algorithm>
#include <boost/asio/error.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <limits>
#include <utility>

#include "api/ErrorBody.h"
#include "server/BodyPump.h"
#include "server/PlainReplyHead.h"
#include "server/RawPipe.h"
#include "server/RequestLimits.h"
#include "server/net/Log.h"

namespace berth::server {
namespace http = boost::beast::http;

namespace {

constexpr std::string_view kRawStream = "application/vnd.docker.raw-stream";
constexpr std::string_view kMultiplexedStream = "application/vnd.docker.multiplexed-stream";

// No body limit: streamed bodies may be gigabytes. Not boost::none: Boost 1.74's parser
// compares `len_ > body_limit_`, which is true for an empty optional, so every
// Content-Length body would fail with body_limit.
constexpr std::uint64_t kUnlimited = std::numeric_limits<std::uint64_t>::max();
// The engine's reply heads: Beast's default, set explicitly so both parsers and the plain
// scan agree.
constexpr std::uint32_t kReplyHeaderLimit = 8192;

// Boost 1.74's Beast speaks boost::string_view.
std::string_view sv(boost::beast::string_view s) { return {s.data(), s.size()}; }

bool isEof(const net::ErrorCode& ec) {
  return ec == boost::asio::error::eof || ec == http::error::end_of_stream;
}

std::string leftover(RelayBuffer& buffer) {
  auto data = buffer.data();
  std::string out(static_cast<const char*>(data.data()), data.size());
  buffer.consume(buffer.size());
  return out;
}

}  // namespace

Session::Session(net::ByteStreamPtr client, std::shared_ptr<const RelayConfig> config,
                 std::uint64_t id)
    : client_(std::move(client)),
      config_(std::move(config)),
      id_(id),
      head_timer_(client_->executor()) {
  client_io_.emplace(*client_);
  if (config_->on_connection_count) {
    auto hook = config_->on_connection_count;
    hook(+1);
    connection_token_ = std::shared_ptr<void>(nullptr, [hook](void*) { hook(-1); });
  }
}

Session::~Session() {
  if (holds_buffers_ && config_->on_busy_count) config_->on_busy_count(-1);
  BERTH_LOG(Debug, "relay", "conn " << id_ << " closed");
}

const char* Session::stateName(State state) {
  switch (state) {
    case State::ReadingHead:
      return "reading head";
    case State::ReadingFilteredBody:
      return "reading filtered body";
    case State::Connecting:
      return "connecting";
    case State::StreamingRequestBody:
      return "streaming request";
    case State::StreamingBoth:
      return "streaming both ways";
    case State::FinishingRequest:
      return "finishing request";
    case State::HijackPending:
      return "hijack pending";
    case State::AwaitingResponse:
      return "awaiting response";
    case State::StreamingResponseBody:
      return "streaming response";
    case State::Hijacked:
      return "hijacked";
    case State::Closing:
      return "closing";
    case State::Closed:
      return "closed";
  }
  return "?";
}

void Session::start() {
  BERTH_LOG(Debug, "relay", "conn " << id_ << " open");
  readRequestHead();
}

void Session::stopGracefully() {
  stopping_ = true;
  if (state_ == State::ReadingHead && client_buffer_.size() == 0) closeAll();
}

void Session::readRequestHead() {
  if (stopping_) {
    closeAll();
    return;
  }
  request_scan_.emplace();
  request_scan_->header_limit(static_cast<std::uint32_t>(config_->limits.max_header_bytes));
  request_parser_.reset();
  request_serializer_.reset();
  request_as_is_ = false;
  response_scan_.reset();
  response_parser_.reset();
  response_serializer_.reset();
  filters_.reset();
  gate_pass_.reset();
  route_.reset();
  state_ = State::ReadingHead;
  armHeadTimer();
  if (client_buffer_.size() > 0) {  // a pipelined request is here already
    readHead();
    return;
  }
  // An idle connection holds no buffer: a client may keep hundreds open and silent
  // (issue 19). They come back when its next request does. The wait is a read into the
  // session's own small array, not a readiness wait: asio re-arms epoll (an epoll_ctl) for
  // every readiness wait, but not for a read on a socket it already watches.
  releaseBuffers();
  client_->readSome(boost::asio::buffer(first_bytes_), [self = shared_from_this()](
                                                           net::ErrorCode ec, std::size_t n) {
    if (self->state_ != State::ReadingHead) return;  // closed meanwhile (timer, stop)
    if (ec) {
      self->onRequestHead(ec);
      return;
    }
    self->client_buffer_.reserve(self->config_->limits.chunk_bytes);
    self->client_buffer_.commit(boost::asio::buffer_copy(
        self->client_buffer_.prepare(n), boost::asio::buffer(self->first_bytes_.data(), n)));
    self->readHead();
  });
}

void Session::readHead() {
  // Beast reads max(512, capacity - size) bytes at a time into a flat_buffer: without room
  // reserved, bodies would move ~1 KiB per syscall (measured: 3x slower than direct).
  client_buffer_.reserve(config_->limits.chunk_bytes);
  if (!holds_buffers_) {
    holds_buffers_ = true;
    if (config_->on_busy_count) config_->on_busy_count(+1);
  }
  readHeadInPlace(*client_io_, client_buffer_, *request_scan_, &Session::onRequestHeadParsed);
}

void Session::onRequestHeadParsed(net::ErrorCode ec, std::size_t head_bytes) {
  request_head_bytes_ = head_bytes;
  onRequestHead(ec);
}

void Session::releaseBuffers() {
  request_chunk_.reset();
  response_chunk_.reset();
  client_buffer_.shrink_to_fit();  // empty: frees it
  if (engine_buffer_.size() == 0) engine_buffer_.shrink_to_fit();
  if (holds_buffers_) {
    holds_buffers_ = false;
    if (config_->on_busy_count) config_->on_busy_count(-1);
  }
}

std::span<char> Session::chunk(ChunkPtr& chunk) {
  // Not zeroed: a page is touched only when a body fills it.
  if (!chunk) chunk = makeChunk(config_->limits.chunk_bytes);
  return {chunk.get(), config_->limits.chunk_bytes};
}

void Session::armHeadTimer() {
  // A stalled or slow head (slow-loris) closes the connection; live streams have no timer.
  // The timer is not re-armed per exchange (a timerfd update per request, measurable on
  // small requests): when it fires it checks when the current wait began.
  head_wait_since_ = std::chrono::steady_clock::now();
  if (!head_timer_armed_) startHeadTimer(head_wait_since_ + config_->limits.head_timeout);
}

void Session::startHeadTimer(std::chrono::steady_clock::time_point deadline) {
  head_timer_armed_ = true;
  head_timer_.expires_at(deadline);
  head_timer_.async_wait([self = shared_from_this()](net::ErrorCode ec) {
    self->head_timer_armed_ = false;
    if (ec || self->state_ != State::ReadingHead) return;
    auto current = self->head_wait_since_ + self->config_->limits.head_timeout;
    if (std::chrono::steady_clock::now() < current) {
      self->startHeadTimer(current);  // a later wait than the one this timer was set for
      return;
    }
    BERTH_LOG(Info, "relay", "conn " << self->id_ << " request head timed out");
    self->closeAll();
  });
}

void Session::onRequestHead(net::ErrorCode ec) {
  if (state_ != State::ReadingHead) return;  // closed meanwhile (timer, stop)
  state_ = State::Connecting;
  if (ec) {
    if (isEof(ec) || ec == boost::asio::error::operation_aborted ||
        ec == boost::asio::error::connection_reset) {
      closeAll();
    } else if (ec == http::error::header_limit) {
      replyError(431, "request header too large (berth accepts at most " +
                          std::to_string(config_->limits.max_header_bytes) + " bytes)");
    } else {
      replyError(400, "malformed HTTP request: " + ec.message());
    }
    return;
  }
  const auto& scan = *request_scan_;
  // The head is at the buffer's front.
  const auto* head_at = static_cast<const char*>(client_buffer_.data().data());
  const std::string_view method = scan.methodString(head_at);
  const std::string_view target = scan.target(head_at);
  // "METHOD SP target SP HTTP/1.1"
  const std::size_t line_bytes = method.size() + target.size() + 10;
  if (auto refusal = RequestLimits::check(line_bytes, scan.fieldCount(), config_->limits)) {
    replyError(refusal->status, refusal->message);
    return;
  }
  keep_alive_ = scan.keep_alive();
  request_is_head_ = scan.method() == http::verb::head;
  route_ = api::RouteMatcher::match(method, target);
  may_upgrade_ = route_->mayHijack() || scan.hasUpgrade();
  BERTH_LOG(Debug, "relay",
            "conn " << id_ << " " << method << " " << target << " ("
                    << api::routeKindName(route_->kind) << ")");
  api::RequestHead head{method, target, *route_};
  if (config_->filters) {
    filters_.emplace(config_->filters->create(head));
    if (auto reply = filters_->onRequestHead(head)) {
      replyError(reply->status, reply->message);
      return;
    }
  }
  if (config_->gate && config_->gate->concerns(*route_)) {
    config_->gate->check(*route_, client_->executor(),
                         [self = shared_from_this()](std::optional<api::LocalReply> refusal,
                                                     std::unique_ptr<RequestGate::Pass> pass) {
                           if (self->state_ != State::Connecting) return;  // closed meanwhile
                           if (refusal) return self->replyError(refusal->status, refusal->message);
                           self->gate_pass_ = std::move(pass);
                           self->afterRequestHead();
                         });
    return;
  }
  afterRequestHead();
}

void Session::afterRequestHead() {
  if (filters_ && filters_->wantsRequestBody()) {
    if (!parseRequestHeadFully()) return;
    client_buffer_.consume(std::exchange(request_head_bytes_, 0));
    readFilteredRequestBody();
    return;
  }
  withEngine([this] { sendRequestHead(); });
}

void Session::readFilteredRequestBody() {
  state_ = State::ReadingFilteredBody;
  // The head is parsed and no body byte consumed: the parser can change body type.
  auto parser =
      std::make_shared<http::request_parser<http::string_body>>(std::move(*request_parser_));
  parser->body_limit(config_->limits.max_filtered_body);
  auto too_large = [self = shared_from_this()] {
    self->replyError(413, "request body too large for berth to inspect (limit " +
                              std::to_string(self->config_->limits.max_filtered_body) + " bytes)");
  };
  // Beast compares Content-Length with the limit only when the head completes, and the head
  // was parsed before the limit was set: check it here, before buffering a byte.
  if (auto length = parser->content_length();
      length && *length > config_->limits.max_filtered_body) {
    too_large();
    return;
  }
  http::async_read(*client_io_, client_buffer_, *parser,
                   [self = shared_from_this(), parser, too_large](net::ErrorCode ec, std::size_t) {
                     if (self->state_ != State::ReadingFilteredBody) return;
                     if (ec == http::error::body_limit) {
                       too_large();
                       return;
                     }
                     if (ec) {
                       self->fail("reading request body", ec);
                       return;
                     }
                     auto& parsed = parser->get();
                     if (auto reply = self->filters_->onRequestBody(parsed.body())) {
                       self->replyError(reply->status, reply->message);
                       return;
                     }
                     auto message = std::make_shared<http::request<http::string_body>>(
                         std::move(parsed.base()), std::move(parsed.body()));
                     self->withEngine([self, message] { self->sendFilteredRequest(message); });
                   });
}

void Session::withEngine(std::function<void()> next) {
  state_ = State::Connecting;
  if (engine_) {
    next();
    return;
  }
  config_->engine->connect(
      client_->executor(), [self = shared_from_this(), next = std::move(next)](
                               net::ByteStreamPtr stream, const net::ConnectError* error) {
        if (self->state_ != State::Connecting) return;
        if (error) {
          BERTH_LOG(Warn, "relay", "conn " << self->id_ << " " << error->message);
          self->replyError(error->http_status, error->message);
          return;
        }
        self->engine_ = std::move(stream);
        self->engine_io_.emplace(*self->engine_);
        self->engine_buffer_.consume(self->engine_buffer_.size());
        next();
      });
}

void Session::sendRequestHead() {
  state_ = State::StreamingRequestBody;
  // Read the reply while the request still streams: the engine may answer early (an error,
  // or a hijack), and must not wait on us.
  readResponseHead();
  if (request_scan_->is_done()) {
    const std::size_t head = std::exchange(request_head_bytes_, 0);
    // No body (most requests): the head goes to the engine as the client wrote it.
    request_as_is_ = true;
    writeWhole(*engine_io_, boost::asio::buffer(client_buffer_.data().data(), head),
               [self = shared_from_this(), head](net::ErrorCode ec) {
                 if (ec) {
                   self->replyError(
                       502, "cannot send the request to the Docker engine: " + ec.message());
                   return;
                 }
                 self->client_buffer_.consume(head);
                 self->requestDone();
               });
    return;
  }
  if (!parseRequestHeadFully()) return;
  client_buffer_.consume(std::exchange(request_head_bytes_, 0));
  request_serializer_.emplace(request_parser_->get());
  pumpRequestBody();
}

void Session::sendFilteredRequest(std::shared_ptr<http::request<http::string_body>> message) {
  state_ = State::StreamingRequestBody;
  message->prepare_payload();  // the filter may have changed the length; chunked is dropped
  // The handler owns the message; it is taken by reference first, as argument evaluation
  // order is unspecified.
  auto& request = *message;
  http::async_write(
      *engine_io_, request,
      [self = shared_from_this(), message = std::move(message)](net::ErrorCode ec, std::size_t) {
        if (ec) {
          self->replyError(502, "cannot send the request to the Docker engine: " + ec.message());
          return;
        }
        self->readResponseHead();
        self->requestDone();
      });
}

void Session::pumpRequestBody() {
  // Only requests with a body come here (a bodiless one goes as written).
  auto pump = std::make_shared<BodyPump<true>>(
      *client_io_, client_buffer_, *request_parser_, *engine_io_, *request_serializer_,
      chunk(request_chunk_), [self = shared_from_this()](net::ErrorCode ec) {
        if (ec && !self->request_serializer_->is_header_done()) {
          self->replyError(502, "cannot send the request to the Docker engine: " + ec.message());
          return;
        }
        if (ec) {
          self->fail("relaying request body", ec);
          return;
        }
        self->requestDone();
      });
  pump->start();
}

void Session::readResponseHead() {
  engine_buffer_.reserve(config_->limits.chunk_bytes);  // a whole small reply in one read
  response_scan_.emplace();
  response_scan_->header_limit(kReplyHeaderLimit);
  response_parser_.reset();
  reply_ = {};
  if (request_is_head_) response_scan_->skip(true);
  response_head_bytes_ = 0;
  readHeadInPlace(*engine_io_, engine_buffer_, *response_scan_, &Session::onResponseHeadParsed);
}

namespace {

// Feeds a complete head (already validated by a HeadScan) to a full parser. The same bytes
// passed the same basic_parser a moment ago, so false means a bug here, not bad input.
template <class Parser>
bool putWholeHead(Parser& parser, const RelayBuffer& buffer, std::size_t head_bytes) {
  net::ErrorCode ec;
  std::size_t used = 0;
  while (!parser.is_header_done() && !ec && used < head_bytes) {
    const auto* head = static_cast<const char*>(buffer.data().data());
    used += parser.put(boost::asio::buffer(head + used, head_bytes - used), ec);
    if (ec == http::error::need_more && used < head_bytes) ec = {};
  }
  if (parser.is_header_done()) return true;
  BERTH_LOG(Error, "relay", "a scanned head did not parse again: " << ec.message());
  return false;
}

}  // namespace

bool Session::parseRequestHeadFully() {
  request_parser_.emplace();
  request_parser_->header_limit(static_cast<std::uint32_t>(config_->limits.max_header_bytes));
  request_parser_->body_limit(kUnlimited);  // uploads may be gigabytes; they stream
  if (putWholeHead(*request_parser_, client_buffer_, request_head_bytes_)) return true;
  replyError(500, "berth could not parse the request head a second time (a bug in berth)");
  return false;
}

bool Session::parseResponseHeadFully() {
  response_parser_.emplace();
  response_parser_->header_limit(kReplyHeaderLimit);
  response_parser_->body_limit(kUnlimited);
  if (request_is_head_) response_parser_->skip(true);
  if (putWholeHead(*response_parser_, engine_buffer_, response_head_bytes_)) return true;
  replyError(502,
             "berth could not parse the Docker engine's reply head a second time (a bug in berth)");
  return false;
}

// http::async_read_header, except that the head's bytes stay at the front of `buffer` until the
// caller consumes them: a message that needs no rewriting (a request without a body, a reply
// with a bounded one) is relayed as its sender wrote it, not re-serialized from the parsed
// fields (callgrind: the serializer was a fifth of berth's instructions per small exchange).
// `done(ec, head_bytes)` runs once.
template <class Parser>
void Session::readHeadInPlace(net::StreamAdapter& from, RelayBuffer& buffer, Parser& parser,
                              void (Session::*done)(net::ErrorCode, std::size_t),
                              std::size_t parsed) {
  if (buffer.size() > parsed) {
    const auto* bytes = static_cast<const char*>(buffer.data().data());
    if constexpr (!Parser::is_request::value) {
      // Most replies arrive whole and plain: framed by one pass, without Beast's field loop.
      if (parsed == 0 && !request_is_head_) {
        if (auto plain = PlainReplyHead::scan({bytes, buffer.size()}, kReplyHeaderLimit)) {
          reply_ = {plain->status, false, plain->content_length, true, plain->content_length == 0};
          (this->*done)({}, plain->head_bytes);
          return;
        }
      }
    }
    net::ErrorCode ec;
    parser.setBase(bytes);
    // Beast may take the start line while fields are still missing (need_more with bytes
    // used): those bytes stay in the buffer, since the head is relayed whole, and the next
    // put starts after them, as it would after async_read_header's consume.
    parsed += parser.put(buffer.data() + parsed, ec);
    if (ec && ec != http::error::need_more) {
      (this->*done)(ec, 0);
      return;
    }
    if (parser.is_header_done()) {
      (this->*done)({}, parsed);
      return;
    }
  }
  const std::size_t room = buffer.capacity() - buffer.size();
  from.async_read_some(buffer.prepare(std::max<std::size_t>(room, 512)),
                       [self = shared_from_this(), &from, &buffer, &parser, done, parsed](
                           net::ErrorCode ec, std::size_t n) {
                         if (ec == boost::asio::error::eof) {
                           ec = parser.got_some() ? http::error::partial_message
                                                  : http::error::end_of_stream;
                         }
                         if (ec) {
                           ((*self).*done)(ec, 0);
                           return;
                         }
                         buffer.commit(n);
                         self->readHeadInPlace(from, buffer, parser, done, parsed);
                       });
}

void Session::onResponseHeadParsed(net::ErrorCode ec, std::size_t head_bytes) {
  response_head_bytes_ = head_bytes;
  if (!ec && reply_.status == 0) {  // not a plain head: the scan framed it
    const auto& scan = *response_scan_;
    reply_.status = scan.status();
    reply_.chunked = scan.chunked();
    if (auto length = scan.content_length()) reply_.content_length = *length;
    reply_.keep_alive = scan.keep_alive();
    reply_.done = scan.is_done();
  }
  onResponseHead(ec);
}

void Session::consumeResponseHead() {
  engine_buffer_.consume(response_head_bytes_);
  response_head_bytes_ = 0;
}

bool Session::bodyIsBounded() const {
  return reply_.done || (!reply_.chunked && reply_.content_length.has_value());
}

void Session::onResponseHead(net::ErrorCode ec) {
  if (state_ != State::StreamingRequestBody && state_ != State::AwaitingResponse) return;
  const bool request_sent = state_ == State::AwaitingResponse;
  if (ec) {
    replyError(502, "the Docker engine closed the connection before answering: " + ec.message());
    return;
  }
  const int status = reply_.status;
  // A 200 without framing on an attach/exec route may be a raw stream (a hijack).
  const bool unframed_200 =
      status == 200 && route_->mayHijack() && !reply_.chunked && !reply_.content_length.has_value();
  if (status < 200 || unframed_200) {
    // Handed to a pipe or re-serialized: the fields are needed.
    if (!parseResponseHeadFully()) return;
    consumeResponseHead();
    auto& res = response_parser_->get();
    if ((status == 101 && !watching_client_) ||
        (unframed_200 && (sv(res[http::field::content_type]) == kRawStream ||
                          sv(res[http::field::content_type]) == kMultiplexedStream))) {
      // The request side must have finished with the engine stream before the pipe owns it.
      if (request_sent) {
        hijack();
      } else {
        state_ = State::HijackPending;
      }
      return;
    }
    if (status < 200) {
      // An interim reply (100 Continue): hand it on, then wait for the real one.
      auto interim = std::make_shared<http::response<http::empty_body>>(res.base());
      response_parser_.reset();
      http::async_write(*client_io_, *interim,
                        [self = shared_from_this(), interim](net::ErrorCode wec, std::size_t) {
                          if (wec) return self->fail("writing interim reply", wec);
                          self->readResponseHead();
                        });
      return;
    }
  }
  if (gate_pass_) {
    gate_pass_->onResponse(status);
    gate_pass_.reset();
  }
  state_ = request_sent ? State::StreamingResponseBody : State::StreamingBoth;
  if (!reply_.keep_alive) keep_alive_ = false;
  const bool filtered = filters_ && filters_->wantsResponseBody(status);
  if (!filtered && !unframed_200 && bodyIsBounded()) {
    relayResponseAsIs();
    return;
  }
  if (!filtered && !unframed_200 && reply_.chunked && !response_parser_) {
    relayChunkedAsIs();
    return;
  }
  if (!response_parser_) {
    if (!parseResponseHeadFully()) return;
    consumeResponseHead();
  }
  if (filtered) {
    readFilteredResponseBody();
    return;
  }
  response_serializer_.emplace(response_parser_->get());
  // The head is flushed now (`POST /wait` sends it long before its body), with whatever
  // body bytes came along.
  pumpResponseBody();
}

void Session::readFilteredResponseBody() {
  auto parser =
      std::make_shared<http::response_parser<http::string_body>>(std::move(*response_parser_));
  parser->body_limit(config_->limits.max_filtered_body);
  http::async_read(
      *engine_io_, engine_buffer_, *parser,
      [self = shared_from_this(), parser](net::ErrorCode ec, std::size_t) {
        if (ec && !(isEof(ec) && parser->is_done())) {
          self->replyError(502, "reading the Docker engine's reply failed: " + ec.message());
          return;
        }
        auto message = std::make_shared<http::response<http::string_body>>(parser->release());
        self->filters_->onResponseBody(static_cast<int>(message->result_int()), message->body());
        message->prepare_payload();
        message->keep_alive(self->keep_alive_);
        http::async_write(*self->client_io_, *message,
                          [self, message](net::ErrorCode wec, std::size_t) {
                            if (wec) return self->fail("writing response", wec);
                            self->responseDone();
                          });
      });
}

void Session::pumpResponseBody() {
  auto pump = std::make_shared<BodyPump<false>>(
      *engine_io_, engine_buffer_, *response_parser_, *client_io_, *response_serializer_,
      chunk(response_chunk_),
      [self = shared_from_this()](net::ErrorCode ec) {
        if (ec) {
          self->fail("relaying response body", ec);
          return;
        }
        self->responseDone();
      },
      [this] { maybeWatchClient(); });
  pump->start();
}

// A reply whose body has a known length (Content-Length, or none at all) goes to the client as
// the engine wrote it: its head and the body bytes that came with it in one write, then the rest
// of the body chunk by chunk, each written as soon as it is read. Nothing is re-serialized: the
// head was parsed only to learn the framing, the status and the keep-alive.
void Session::relayResponseAsIs() {
  const std::uint64_t body = reply_.done ? 0 : reply_.content_length.value_or(0);
  const auto buffered = engine_buffer_.data();
  const std::size_t first = static_cast<std::size_t>(
      std::min<std::uint64_t>(buffered.size(), response_head_bytes_ + body));
  body_left_ = body - (first - response_head_bytes_);
  response_head_bytes_ = 0;
  writeWhole(*client_io_, boost::asio::buffer(buffered.data(), first),
             [self = shared_from_this(), first](net::ErrorCode ec) {
               if (ec) return self->fail("writing response", ec);
               self->engine_buffer_.consume(first);
               self->relayRestAsIs();
             });
}

template <class Done>
void Session::writeWhole(net::StreamAdapter& to, boost::asio::const_buffer data, Done&& done) {
  // Most heads and small replies go in one non-blocking send: no asynchronous operation, no
  // trip through the scheduler (callgrind: ~1,500 instructions less per write). The rest (a full
  // socket buffer, a TLS stream) goes through asio from where the send stopped.
  net::ErrorCode ec;
  const std::size_t sent = to.stream().tryWrite(data, ec);
  if (!ec && sent == data.size()) {
    done(ec);
    return;
  }
  if (ec && ec != boost::asio::error::would_block) {
    done(ec);
    return;
  }
  boost::asio::async_write(
      to, data + sent,
      [done = std::forward<Done>(done)](net::ErrorCode wec, std::size_t) mutable { done(wec); });
}

// A chunked reply that no filter reads goes to the client as the engine wrote it too (most of
// the engine's lists and streams are chunked: GET /containers/json, archives, logs, events):
// ChunkedFraming follows only the chunk-size lines to learn where it ends, and each read is
// written on at once, so stream chunks are not held back (DESIGN.md "The relay", rule 3).
// Before, Beast's parser and serializer took every chunk apart and framed it again.
void Session::relayChunkedAsIs() {
  chunked_.emplace();
  const auto buffered = engine_buffer_.data();
  const auto* bytes = static_cast<const char*>(buffered.data());
  const std::size_t body =
      chunked_->take({bytes + response_head_bytes_, buffered.size() - response_head_bytes_});
  if (chunked_->failed() != nullptr) {
    replyError(
        502, std::string("the Docker engine's chunked reply is malformed: ") + chunked_->failed());
    return;
  }
  const std::size_t first = response_head_bytes_ + body;
  response_head_bytes_ = 0;
  writeWhole(*client_io_, boost::asio::buffer(bytes, first),
             [self = shared_from_this(), first](net::ErrorCode ec) {
               if (ec) return self->fail("writing response", ec);
               self->engine_buffer_.consume(first);
               self->relayRestAsIs();
             });
}

// The rest of a reply that goes to the client as the engine wrote it, each read written on at
// once. Its end is known by count (body_left_) or, for a chunked reply, from the chunk-size
// lines ChunkedFraming follows (chunked_); bytes read past it stay for the next exchange.
void Session::relayRestAsIs() {
  if (chunked_ ? chunked_->done() : body_left_ == 0) {
    chunked_.reset();
    responseDone();
    return;
  }
  maybeWatchClient();
  const auto span = chunk(response_chunk_);
  const auto want =
      chunked_ ? span.size()
               : static_cast<std::size_t>(std::min<std::uint64_t>(span.size(), body_left_));
  engine_io_->async_read_some(boost::asio::buffer(span.data(), want), [self = shared_from_this(),
                                                                       span](net::ErrorCode ec,
                                                                             std::size_t n) {
    if (ec) return self->fail("relaying response body", ec);
    std::size_t used = n;
    if (!self->chunked_) {
      self->body_left_ -= n;
    } else {
      used = self->chunked_->take({span.data(), n});
      if (const char* why = self->chunked_->failed()) {
        BERTH_LOG(Warn, "relay", "conn " << self->id_ << ": the engine's chunked reply: " << why);
        return self->fail("relaying response body", http::error::bad_chunk);
      }
      if (used < n) {  // bytes past the reply's end stay for the next exchange, as in Beast
        boost::asio::buffer_copy(self->engine_buffer_.prepare(n - used),
                                 boost::asio::buffer(span.data() + used, n - used));
        self->engine_buffer_.commit(n - used);
      }
    }
    self->writeWhole(*self->client_io_, boost::asio::buffer(span.data(), used),
                     [self](net::ErrorCode wec) {
                       if (wec) return self->fail("relaying response body", wec);
                       self->relayRestAsIs();
                     });
  });
}

void Session::hijack() {
  state_ = State::Hijacked;
  auto& res = response_parser_->get();
  BERTH_LOG(Debug, "relay", "conn " << id_ << " hijacked (" << res.result_int() << ")");
  auto head = std::make_shared<http::response<http::empty_body>>(res.base());
  auto serializer = std::make_shared<http::response_serializer<http::empty_body>>(*head);
  http::async_write_header(
      *client_io_, *serializer,
      [self = shared_from_this(), head, serializer](net::ErrorCode ec, std::size_t) {
        if (ec) return self->fail("writing hijack head", ec);
        auto to_engine = leftover(self->client_buffer_);
        auto to_client = leftover(self->engine_buffer_);
        auto token = self->connection_token_;
        auto pipe = std::make_shared<RawPipe>(std::move(self->client_), std::move(self->engine_),
                                              std::move(to_engine), std::move(to_client),
                                              self->config_->limits.chunk_bytes,
                                              [token] { /* releases the connection count */ });
        self->head_timer_.cancel();
        pipe->start();
      });
}

void Session::requestDone() {
  switch (state_) {
    case State::StreamingRequestBody:
      state_ = State::AwaitingResponse;
      return;
    case State::StreamingBoth:
      state_ = State::StreamingResponseBody;
      if (response_serializer_) maybeWatchClient();  // the response already streams
      return;
    case State::FinishingRequest:
      nextExchange();
      return;
    case State::HijackPending:
      hijack();
      return;
    case State::ReadingHead:
    case State::ReadingFilteredBody:
    case State::Connecting:
    case State::AwaitingResponse:
    case State::StreamingResponseBody:
    case State::Hijacked:
    case State::Closing:
    case State::Closed:
      return;  // ended meanwhile, or not a request in flight
  }
}

void Session::maybeWatchClient() {
  // While a response streams, nothing reads the client: watch it, so a client that goes away
  // from `events` or `logs -f` (which may stay silent for hours) frees both connections now.
  // Only once the response waits on the engine: a reply that comes whole (most) costs no
  // extra read. Not on routes that may switch to a raw pipe: the pipe takes over the reads.
  if (state_ == State::StreamingResponseBody && !may_upgrade_ && !watching_client_) {
    watchClient();
  }
}

void Session::watchClient() {
  watching_client_ = true;
  client_->readSome(
      client_buffer_.prepare(4096), [self = shared_from_this()](net::ErrorCode ec, std::size_t n) {
        self->watching_client_ = false;
        if (self->ended()) return;
        if (ec) {
          // EOF or reset before the response ended: the client is gone. A half-close counts as
          // gone too, as it does for dockerd itself (Go's net/http cancels the request).
          BERTH_LOG(Debug, "relay", "conn " << self->id_ << " client went away: " << ec.message());
          self->closeAll();
          return;
        }
        self->client_buffer_.commit(n);
        // The exchange ended while this read waited: it is the next head's first read.
        if (self->state_ == State::ReadingHead) self->readRequestHead();
        // Otherwise a pipelined request arrived while the response streams: it waits in the buffer.
      });
}

void Session::responseDone() {
  switch (state_) {
    case State::StreamingBoth:
      // The whole request was read and its last write is completing: requestDone() goes on.
      // (The engine often answers a GET before that write's handler has run.)
      if (request_as_is_ || (request_serializer_ && request_parser_->is_done())) {
        state_ = State::FinishingRequest;
        return;
      }
      // The engine answered before the request body ended (an early error): the rest of the
      // body has nowhere to go, so this connection cannot carry another exchange.
      keep_alive_ = false;
      closeAll();
      return;
    case State::StreamingResponseBody:
      nextExchange();
      return;
    case State::ReadingHead:
    case State::ReadingFilteredBody:
    case State::Connecting:
    case State::StreamingRequestBody:
    case State::FinishingRequest:
    case State::HijackPending:
    case State::AwaitingResponse:
    case State::Hijacked:
    case State::Closing:
    case State::Closed:
      return;  // ended meanwhile, or not a response in flight
  }
}

void Session::nextExchange() {
  if (!keep_alive_ || stopping_) {
    closeAll();
    return;
  }
  if (watching_client_) {
    // The watch read is the read of the next request head: wait for it to complete.
    state_ = State::ReadingHead;
    armHeadTimer();
    return;
  }
  readRequestHead();
}

void Session::replyError(int status, const std::string& message) {
  if (ended() || state_ == State::Closing) return;
  state_ = State::Closing;
  auto reply = std::make_shared<http::response<http::string_body>>(
      static_cast<http::status>(status), 11, api::errorBody(message));
  reply->set(http::field::content_type, "application/json");
  reply->set(http::field::server, "berth");
  reply->keep_alive(false);  // the rest of the request may be unread: start afresh
  reply->prepare_payload();
  http::async_write(
      *client_io_, *reply,
      [self = shared_from_this(), reply](net::ErrorCode, std::size_t) { self->closeAll(); });
}

void Session::fail(const char* where, net::ErrorCode ec) {
  if (state_ == State::Closed) return;
  if (!isEof(ec) && ec != boost::asio::error::operation_aborted) {
    BERTH_LOG(Info, "relay",
              "conn " << id_ << " " << where << " (" << stateName(state_) << "): " << ec.message());
  }
  closeAll();
}

void Session::closeAll() {
  if (state_ == State::Closed) return;
  state_ = State::Closed;
  head_timer_.cancel();
  if (client_) client_->close();
  if (engine_) engine_->close();
}

}  // namespace berth::server
