#pragma once
// UnixHttpClient: one blocking HTTP/1.0 exchange over a unix socket, with a bound on the whole
// exchange. For control-plane probes and small queries (GET /_ping, GET /containers/json,
// the daemon's control API), never for the relay's data path. Thread-safe: calls share nothing.
#include <chrono>
#include <string>

namespace berth::net {

struct HttpReply {
  int status = 0;     // 0: no HTTP answer (connect failed, timed out, garbage)
  std::string body;   // the response body (read to EOF; Connection: close)
  std::string error;  // why status is 0
};

class UnixHttpClient {
 public:
  static HttpReply request(const std::string& socket_path, const std::string& method,
                           const std::string& target, const std::string& body,
                           std::chrono::milliseconds timeout);
  static HttpReply get(const std::string& socket_path, const std::string& target,
                       std::chrono::milliseconds timeout) {
    return request(socket_path, "GET", target, "", timeout);
  }
};

}  // namespace berth::net
