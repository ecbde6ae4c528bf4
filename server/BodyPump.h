#pragma once
// BodyPump: moves one HTTP message with a buffer_body from `from` to `to`, head included: it
// reads what is available (at most one chunk buffer), then writes it at once, so stream chunks
// are never held back (DESIGN.md "The relay", rules 2 and 3). `done(ec)` runs once, when the
// message is complete on both sides or on the first error. Lives while an operation is
// pending (shared_from_this); borrows everything else, which must outlive it. Runs on the
// streams' executor; not thread-safe.
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/serializer.hpp>
#include <functional>
#include <memory>
#include <span>

#include "server/ChunkCache.h"
#include "server/net/StreamAdapter.h"

namespace berth::server {

template <bool IsRequest>
class BodyPump : public std::enable_shared_from_this<BodyPump<IsRequest>> {
 public:
  using Parser = boost::beast::http::parser<IsRequest, boost::beast::http::buffer_body>;
  using Serializer = boost::beast::http::serializer<IsRequest, boost::beast::http::buffer_body>;

  // `parser` has read the head from `buffer`; `serializer` is built on its message; `chunk`
  // holds the body bytes between a read and its write. `on_wait` runs before each read that
  // may wait for the peer.
  BodyPump(net::StreamAdapter& from, RelayBuffer& buffer, Parser& parser, net::StreamAdapter& to,
           Serializer& serializer, std::span<char> chunk, std::function<void(net::ErrorCode)> done,
           std::function<void()> on_wait = {});

  void start();

 private:
  void run();
  void onRead(net::ErrorCode ec);
  bool parseBuffered();
  std::size_t parsedBytes();
  void flush();
  void write();

  net::StreamAdapter& from_;
  RelayBuffer& buffer_;
  Parser& parser_;
  net::StreamAdapter& to_;
  Serializer& serializer_;
  std::span<char> chunk_;
  std::function<void(net::ErrorCode)> done_;
  std::function<void()> on_wait_;
};

extern template class BodyPump<true>;
extern template class BodyPump<false>;

}  // namespace berth::server
