#pragma once
// HttpExchange: one HTTP/1.1 request and its reply over a connection that a net::Connector opens
// (unix socket, TCP, TLS) — the only HTTP client code in berth that touches Beast. HttpClient
// runs it on a private io_context with deadlines (the blocking control plane); EngineClient runs
// it on a strand (forwarding, the dashboard). The reply is read whole (up to 64 MiB) or streamed:
// its head first, then its body bytes as they arrive, never held whole.
// Handlers run on the executor given to start(); use an exchange from that executor only. It
// keeps itself alive while an operation is pending. cancel() and expire() end it at once.
#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "server/net/Connector.h"

namespace berth::net {

class HttpExchange : public std::enable_shared_from_this<HttpExchange> {
 public:
  using Clock = std::chrono::steady_clock;

  struct Request {
    std::string method = "GET";
    std::string target;
    std::string host = "docker";  // the Host header (a server name for HTTPS)
    std::string body;             // sent as application/json when not empty
  };

  enum class Mode { Whole, Stream };

  struct Head {
    int status = 0;
    std::string location;                 // the Location header (redirects)
    std::optional<std::uint64_t> length;  // Content-Length, when sent
  };

  struct Handlers {
    // Stream mode: the reply's head, before any body byte.
    std::function<void(const Head&)> on_head;
    // Stream mode: de-chunked body bytes as they come.
    std::function<void(std::string_view bytes)> on_data;
    // Once, unless cancelled. `error` is empty when the reply was read to its end; otherwise it
    // says where the exchange broke ("... closed the connection in the middle of its answer").
    // Whole mode: status and body (status 0 and no body with an error).
    std::function<void(int status, std::string body, std::string error)> on_end;
  };

  // Connects and sends `request`. What on_head/on_data throw ends the exchange; its message
  // becomes on_end's error.
  static std::shared_ptr<HttpExchange> start(Connector& connector,
                                             const boost::asio::any_io_executor& executor,
                                             Request request, Mode mode, Handlers handlers);

  // Ends the exchange now; no handler runs again, and they are dropped at once (so a handler
  // may hold the exchange's owner).
  void cancel();
  // Ends the exchange now with on_end's error "WHAT <phase> <connector>", e.g. "timed out
  // after 2000ms waiting for an answer from unix:/run/docker.sock".
  void expire(const std::string& what);

  bool done() const;
  // When the exchange last moved (connected, sent, received bytes): a stall clock.
  Clock::time_point progress() const;

  struct State;  // the connection and Beast's parser: HttpExchange.cc only
  HttpExchange(std::string description, Mode mode, Handlers handlers);
  ~HttpExchange();

 private:
  void send(ByteStreamPtr stream);
  void readHead();
  void readBody();
  void onBody(ErrorCode ec);
  std::string readError(ErrorCode ec) const;
  template <class F>
  bool guarded(F&& f);
  void finish(int status, std::string error);

  const std::string description_;  // the connector's, for messages
  const Mode mode_;
  Handlers handlers_;
  std::unique_ptr<State> state_;
  const char* phase_ = "connecting to";
  Clock::time_point progress_ = Clock::now();
  int status_ = 0;
  bool done_ = false;
};

}  // namespace berth::net
