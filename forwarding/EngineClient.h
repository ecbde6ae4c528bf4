#pragma once
// EngineClient: berth's one asynchronous client of the Docker Engine API, over a net::Connector
// (so it reaches the engine exactly as the relay does, or through the profile's own docker.sock
// and its filters, as the dashboard does). One engine connection per call:
//  - call(): any method, an optional JSON body, the whole (bounded) reply;
//  - streamBytes(): the reply's body bytes as they arrive (events, stats, logs?follow);
//  - stream(): the same, cut into newline-delimited records (`/events`).
// Handlers run on the executor given at construction (a strand); call it from that executor
// only. A cancelled stream calls none of its handlers again and drops them at once (so a handler
// may hold its owner). Beast lives in EngineClient.cc alone.
#include <boost/asio/any_io_executor.hpp>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "server/net/Connector.h"

namespace berth::fwd {

class EngineClient {
 public:
  // `error` is empty on success; `status` is the HTTP status (0 when no complete reply came).
  using ReplyHandler = std::function<void(std::string error, int status, std::string body)>;
  using LineHandler = std::function<void(std::string_view line)>;
  using EndHandler = std::function<void(std::string reason)>;

  struct ByteHandlers {
    std::function<void(int status)> on_head;              // optional: before any body byte
    std::function<void(std::string_view bytes)> on_data;  // de-chunked body bytes
    // Once, unless cancelled: the body ended (error empty) or broke (status 0 if no head came).
    std::function<void(int status, std::string error)> on_end;
  };

  // A running stream; cancel() ends it without calling its handlers again.
  class Stream {
   public:
    virtual ~Stream() = default;
    virtual void cancel() = 0;
  };

  EngineClient(net::ConnectorPtr connector, boost::asio::any_io_executor executor);

  // `body`, when not empty, is sent as application/json. The reply body is bounded (64 MiB).
  void call(std::string method, std::string target, std::string body, ReplyHandler handler);
  void get(std::string target, ReplyHandler handler) {
    call("GET", std::move(target), {}, std::move(handler));
  }

  std::shared_ptr<Stream> streamBytes(std::string method, std::string target,
                                      ByteHandlers handlers);
  // `on_open` runs once the engine answered 200 (the subscription is live); `on_line` for each
  // non-empty record; `on_end` once, when the stream breaks, ends or could not open.
  std::shared_ptr<Stream> stream(std::string target, std::function<void()> on_open,
                                 LineHandler on_line, EndHandler on_end);

  const net::Connector& connector() const { return *connector_; }

 private:
  net::ConnectorPtr connector_;
  boost::asio::any_io_executor executor_;
};

}  // namespace berth::fwd
