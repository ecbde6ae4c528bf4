#pragma once
// Session: one client connection of the Docker API socket, relayed to the engine (DESIGN.md
// "The relay"). Request heads are forwarded unchanged (a bodiless request and a reply with a
// bounded body as the bytes their sender wrote); bodies stream both ways through fixed
// buffers; response heads and every chunk are flushed at once; a 101 or a raw-stream 200 on
// attach/exec switches to a RawPipe. Only bodies a filter asks for are buffered, under a cap.
// One engine connection per client connection, opened on the first request. Lives while an
// operation is pending (shared_from_this); runs on its connection's executor (a strand of its
// own when several threads run the relay, see UnixListener); no locks.
#include <array>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include "api/FilterChain.h"
#include "server/ChunkCache.h"
#include "server/ChunkedFraming.h"
#include "server/HeadScan.h"
#include "server/RelayConfig.h"
#include "server/net/StreamAdapter.h"

namespace berth::server {

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(net::ByteStreamPtr client, std::shared_ptr<const RelayConfig> config, std::uint64_t id);
  ~Session();

  void start();
  // Ends the connection after the exchange in flight; an idle connection closes now.
  // Must be called on the session's executor.
  void stopGracefully();
  net::ByteStream& client() { return *client_; }

 private:
  using RequestParser = boost::beast::http::request_parser<boost::beast::http::buffer_body>;
  using ResponseParser = boost::beast::http::response_parser<boost::beast::http::buffer_body>;
  using RequestSerializer = boost::beast::http::request_serializer<boost::beast::http::buffer_body>;
  using ResponseSerializer =
      boost::beast::http::response_serializer<boost::beast::http::buffer_body>;

  void readRequestHead();
  void readHead();
  void releaseBuffers();
  std::span<char> chunk(ChunkPtr& chunk);
  void armHeadTimer();
  void startHeadTimer(std::chrono::steady_clock::time_point deadline);
  void maybeWatchClient();
  void watchClient();
  void onRequestHead(net::ErrorCode ec);
  void afterRequestHead();
  void readFilteredRequestBody();
  void withEngine(std::function<void()> next);
  void sendRequestHead();
  void sendFilteredRequest(
      std::shared_ptr<boost::beast::http::request<boost::beast::http::string_body>> message);
  void pumpRequestBody();
  void readResponseHead();
  template <class Parser>
  void readHeadInPlace(net::StreamAdapter& from, RelayBuffer& buffer, Parser& parser,
                       void (Session::*done)(net::ErrorCode, std::size_t), std::size_t parsed = 0);
  // The scanned head at the front of the buffer, parsed again by the full parser (fields
  // kept) for the paths that re-serialize it or read its body through the parser; false (and
  // an error reply sent) if it does not parse again, which would be a bug in berth.
  bool parseRequestHeadFully();
  bool parseResponseHeadFully();
  void onResponseHeadParsed(net::ErrorCode ec, std::size_t head_bytes);
  void onRequestHeadParsed(net::ErrorCode ec, std::size_t head_bytes);
  void consumeResponseHead();
  bool bodyIsBounded() const;
  void onResponseHead(net::ErrorCode ec);
  void relayResponseAsIs();
  // Writes all of `data` to `to`'s stream; `done(ec)` runs once, before this returns when the
  // stream took it all at once (ByteStream::tryWrite).
  template <class Done>
  void writeWhole(net::StreamAdapter& to, boost::asio::const_buffer data, Done&& done);
  void relayChunkedAsIs();
  // The rest of an as-is reply: to its end by count or by chunk framing, then responseDone().
  void relayRestAsIs();
  void readFilteredResponseBody();
  void pumpResponseBody();
  void hijack();
  void requestDone();
  void responseDone();
  void nextExchange();
  void replyError(int status, const std::string& message);
  void fail(const char* where, net::ErrorCode ec);
  void closeAll();

  net::ByteStreamPtr client_;
  net::ByteStreamPtr engine_;
  std::optional<net::StreamAdapter> client_io_;
  std::optional<net::StreamAdapter> engine_io_;
  std::shared_ptr<const RelayConfig> config_;
  std::uint64_t id_;
  std::shared_ptr<void> connection_token_;  // counts this connection while it (or its pipe) lives
  boost::asio::steady_timer head_timer_;

  RelayBuffer client_buffer_;
  RelayBuffer engine_buffer_;
  // An idle connection's pending read lands here, not in client_buffer_ (which it frees): the
  // first bytes of its next request, most often all of a small one's head.
  std::array<char, 1024> first_bytes_{};
  // Body chunks, allocated when a body first streams and freed while the connection idles.
  ChunkPtr request_chunk_;
  ChunkPtr response_chunk_;

  // Where the connection is. The request and the response of one exchange overlap (the
  // engine may answer, or switch protocols, before the request body ends), so the states in
  // the middle name both halves.
  enum class State {
    ReadingHead,            // waiting for (or reading) a request head; the head timer runs
    ReadingFilteredBody,    // a filter buffers the request body before anything is sent
    Connecting,             // opening the engine connection (first request only)
    StreamingRequestBody,   // the request goes to the engine; no response head yet
    StreamingBoth,          // the engine answered early: the response streams, the request too
    FinishingRequest,       // response done; the request's last write is completing
    HijackPending,          // a 101 / raw-stream head came; the request's last write completes
    AwaitingResponse,       // request sent; waiting for the response head
    StreamingResponseBody,  // request sent; the response streams to the client
    Hijacked,               // a RawPipe owns both streams (or is about to)
    Closing,                // berth's own error reply is being written, then Closed
    Closed,
  };
  static const char* stateName(State state);
  // True once nothing more of this session may run (the streams are closed or handed on).
  bool ended() const { return state_ == State::Hijacked || state_ == State::Closed; }

  State state_ = State::ReadingHead;
  // One exchange (request + response); reset for the next one on a kept-alive connection.
  // Heads are read by the scans; the full parsers exist only when a head is re-serialized.
  std::optional<HeadScan<true>> request_scan_;
  std::optional<HeadScan<false>> response_scan_;
  // The reply's framing, from PlainReplyHead or, for other heads, from response_scan_.
  struct ReplyFraming {
    int status = 0;  // 0: no head yet
    bool chunked = false;
    std::optional<std::uint64_t> content_length;
    bool keep_alive = true;
    bool done = false;  // no body follows the head
  };
  ReplyFraming reply_;
  std::optional<RequestParser> request_parser_;
  std::optional<RequestSerializer> request_serializer_;
  std::optional<ResponseParser> response_parser_;
  std::optional<ResponseSerializer> response_serializer_;
  std::optional<api::FilterChain> filters_;
  std::unique_ptr<RequestGate::Pass> gate_pass_;  // hears the engine's status (RequestGate)
  std::optional<api::Route> route_;
  std::size_t request_head_bytes_ = 0;     // the parsed head, still at client_buffer_'s front
  std::size_t response_head_bytes_ = 0;    // the parsed head, still at engine_buffer_'s front
  bool request_as_is_ = false;             // the request went as the client wrote it (no body)
  std::uint64_t body_left_ = 0;            // of a reply relayed as is
  std::optional<ChunkedFraming> chunked_;  // of a chunked reply relayed as is
  bool keep_alive_ = true;
  bool request_is_head_ = false;
  bool may_upgrade_ = false;      // the request may end in a 101 / raw stream
  bool watching_client_ = false;  // a read on the client is pending while the response streams
  bool stopping_ = false;         // stopGracefully(): no exchange after the current one
  bool head_timer_armed_ = false;
  bool holds_buffers_ = false;  // counted in on_busy_count
  std::chrono::steady_clock::time_point head_wait_since_;
};

}  // namespace berth::server
