#pragma once
// HttpClient: the one blocking HTTP/1.1 client of the control plane (engine probes and small
// engine queries, the daemon's control API, artifact downloads over HTTPS). One exchange per
// connection, opened through a net::Connector (unix socket, TLS); connect, write and read share
// one deadline. A reply is read whole (Content-Length, chunked, or to EOF) up to 64 MiB, or
// streamed to a sink by download(). Never for the relay's data path, never on an I/O thread: it
// runs a private io_context on the calling thread.
// Thread-safe: immutable after construction; calls share nothing.
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "server/net/Connector.h"

namespace berth::net {

struct HttpResponse {
  int status = 0;     // 0: no complete HTTP answer; `error` says why
  std::string body;   // the whole body, de-chunked
  std::string error;  // "cannot reach ...", "timed out after 2000ms waiting for ...", ...
};

// The head and outcome of a streamed GET (HttpClient::download).
struct HttpDownload {
  int status = 0;              // 0: no HTTP answer; `error` says why
  std::string location;        // the Location header (redirects)
  std::uint64_t length = 0;    // Content-Length; 0 when not sent
  std::uint64_t received = 0;  // body bytes handed to the sink
  std::string error;           // set when the exchange did not end with a whole body
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

  // `host` is the Host header (a server name for HTTPS; any word for a unix socket).
  explicit HttpClient(ConnectorPtr connector, std::string host = "docker");
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

  // GET `target`, streaming: `on_head` sees the status, Location and length first; the body of
  // a 200 goes to `sink` chunk by chunk as it arrives (never held whole), any other status's
  // body is dropped. `stall` bounds every wait (connect, head, each chunk), not the whole
  // transfer. A body cut short sets `error`. Never throws; an exception from a callback ends
  // the exchange with its message in `error`.
  HttpDownload download(const std::string& target, std::chrono::milliseconds stall,
                        const std::function<void(const HttpDownload&)>& on_head,
                        const std::function<void(const char*, std::size_t)>& sink) const;

  // Readiness: asks `GET target` until `accept` holds for a reply (true), or the deadline
  // passes or keep_waiting() says false (false). `last` receives the last reply either way.
  bool waitUntil(const std::string& target, const std::function<bool(const HttpResponse&)>& accept,
                 const Wait& wait, HttpResponse* last = nullptr) const;

  std::string describe() const { return connector_->describe(); }

 private:
  ConnectorPtr connector_;
  std::string host_;
};

}  // namespace berth::net
