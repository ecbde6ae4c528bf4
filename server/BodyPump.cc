#include "server/BodyPump.h"

#include <boost/asio/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

namespace berth::server {
namespace http = boost::beast::http;

namespace {

bool isEof(const net::ErrorCode& ec) {
  return ec == boost::asio::error::eof || ec == http::error::end_of_stream;
}

}  // namespace

template <bool IsRequest>
BodyPump<IsRequest>::BodyPump(net::StreamAdapter& from, RelayBuffer& buffer, Parser& parser,
                              net::StreamAdapter& to, Serializer& serializer, std::span<char> chunk,
                              std::function<void(net::ErrorCode)> done,
                              std::function<void()> on_wait)
    : from_(from),
      buffer_(buffer),
      parser_(parser),
      to_(to),
      serializer_(serializer),
      chunk_(chunk),
      done_(std::move(done)),
      on_wait_(std::move(on_wait)) {}

// Writes the head (the parser has read it) at once, together with the body bytes that
// already came with it: one write for a small message, and dockerd's attach drops body
// bytes that arrive with the head but feeds later ones to the container's stdin, so
// splitting them would change what the container sees (dockerode sends such a body).
template <bool IsRequest>
void BodyPump<IsRequest>::start() {
  auto& body = parser_.get().body();
  body.data = chunk_.data();
  body.size = chunk_.size();
  if (!parseBuffered()) return;
  if (parsedBytes() > 0 || parser_.is_done()) {
    flush();
    return;
  }
  // No body byte yet: the head goes alone, now (a hijacking client may send nothing
  // before it sees the 101; `POST /wait` must see its head flushed).
  http::async_write_header(to_, serializer_,
                           [self = this->shared_from_this()](net::ErrorCode ec, std::size_t) {
                             if (ec) return self->done_(ec);
                             self->run();
                           });
}

template <bool IsRequest>
void BodyPump<IsRequest>::run() {
  auto& body = parser_.get().body();
  if (parser_.is_done()) {
    body.data = nullptr;
    body.size = 0;
    body.more = false;
    write();
    return;
  }
  body.data = chunk_.data();
  body.size = chunk_.size();
  if (on_wait_) on_wait_();
  http::async_read_some(
      from_, buffer_, parser_,
      [self = this->shared_from_this()](net::ErrorCode ec, std::size_t) { self->onRead(ec); });
}

template <bool IsRequest>
void BodyPump<IsRequest>::onRead(net::ErrorCode ec) {
  if (ec == http::error::need_buffer) ec = {};
  if (ec && !(isEof(ec) && parser_.is_done())) {
    done_(ec);
    return;
  }
  if (!parseBuffered()) return;
  if (parsedBytes() == 0 && !parser_.is_done()) {
    run();  // only framing was parsed (a chunk header); read on
    return;
  }
  flush();
}

// The parser stops at each chunk boundary of a chunked body: parse what is already
// buffered into the rest of our chunk, so one read makes one write (never waits for more).
template <bool IsRequest>
bool BodyPump<IsRequest>::parseBuffered() {
  auto& body = parser_.get().body();
  while (body.size > 0 && buffer_.size() > 0 && !parser_.is_done()) {
    net::ErrorCode ec;
    std::size_t used = parser_.put(buffer_.data(), ec);
    buffer_.consume(used);
    if (ec == http::error::need_buffer || ec == http::error::need_more) break;
    if (ec) {
      done_(ec);
      return false;
    }
    if (used == 0) break;
  }
  return true;
}

template <bool IsRequest>
std::size_t BodyPump<IsRequest>::parsedBytes() {
  return chunk_.size() - parser_.get().body().size;
}

template <bool IsRequest>
void BodyPump<IsRequest>::flush() {
  auto& body = parser_.get().body();
  std::size_t parsed = parsedBytes();
  body.data = parsed ? chunk_.data() : nullptr;
  body.size = parsed;
  body.more = !parser_.is_done();
  write();
}

template <bool IsRequest>
void BodyPump<IsRequest>::write() {
  http::async_write(to_, serializer_,
                    [self = this->shared_from_this()](net::ErrorCode ec, std::size_t) {
                      if (ec == http::error::need_buffer) ec = {};
                      if (ec) {
                        self->done_(ec);
                      } else if (self->serializer_.is_done()) {
                        self->done_({});
                      } else {
                        self->run();
                      }
                    });
}

template class BodyPump<true>;
template class BodyPump<false>;

}  // namespace berth::server
