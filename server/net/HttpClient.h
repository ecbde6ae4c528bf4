#pragma once
// HttpClient: the one blocking HTTP/1.1 client of the control plane (engine probes and small
// engine queries, the daemon's control API). One exchange per connection, opened through a
// net::Connector (unix socket, mutual TLS); connect, write and read share one deadline. A reply
// is read whole (Content-Length, chunked, or to EOF) up to 64 MiB. Never for the relay's data
// path, never on an I/O thread: it runs a private io_context on the calling thread.
// Thread-safe: immutable after construction; calls share nothing.
#include <chrono>
#include <functional>
#include <string>

#include "server/net/Connector.h"

namespace berth::net {

struct HttpResponse {
  int status = 0;     // 0: no complete HTTP answer; `error` says why
  std::string body;   // the whole body, de-chunked
  std::string error;  // "cannot reach ...", "timed out after 2000ms waiting for ...", ...
};

class HttpClient {
 public:
  using Clock = std::chrono::steady_clock;

  // How waitUntil() asks again.
  struct Wait {
    Clock::time_point deadline;
    std::chrono::milliseconds interval{100};       // pause between attempts
    std::chrono::milliseconds attempt{2000};       // deadline of one attempt (capped by deadline)
    std::function<bool()> keep_waiting = nullptr;  // asked before every attempt; false: give up
                                                   // (what it throws reaches the caller)
  };

  explicit HttpClient(ConnectorPtr connector);
  // A client of the unix socket at `path`.
  static HttpClient unixSocket(const std::string& path);

  // One exchange; a non-empty body is sent as application/json. Never throws.
  HttpResponse request(const std::string& method, const std::string& target,
                       std::chrono::milliseconds timeout, const std::string& body = {}) const;
  HttpResponse get(const std::string& target, std::chrono::milliseconds timeout) const {
    return request("GET", target, timeout);
  }
  HttpResponse post(const std::string& target, std::chrono::milliseconds timeout,
                    const std::string& body = {}) const {
    return request("POST", target, timeout, body);
  }

  // Readiness: asks `GET target` until `accept` holds for a reply (true), or the deadline
  // passes or keep_waiting() says false (false). `last` receives the last reply either way.
  bool waitUntil(const std::string& target, const std::function<bool(const HttpResponse&)>& accept,
                 const Wait& wait, HttpResponse* last = nullptr) const;

  std::string describe() const { return connector_->describe(); }

 private:
  ConnectorPtr connector_;
};

}  // namespace berth::net
