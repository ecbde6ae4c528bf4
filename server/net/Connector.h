#pragma once
// Connector: opens a new ByteStream to one place (the guest engine, mostly). Implementations:
// UnixConnector, TlsConnector, and the daemon's boot-on-demand connector that first waits for
// the guest. Thread-safe: connect() may be called from any connection's executor; the handler
// runs on `executor`.
#include <functional>
#include <memory>
#include <string>

#include "server/net/ByteStream.h"

namespace berth::net {

// Why a connect failed, already phrased for a Docker-shaped error reply.
struct ConnectError {
  int http_status = 502;  // 502 engine unreachable, 503 engine not ready / boot failed
  std::string message;
};

using ConnectHandler = std::function<void(ByteStreamPtr stream, const ConnectError* error)>;

class Connector {
 public:
  virtual ~Connector() = default;
  // Connects; on success `stream` is set and `error` null, else `stream` is null.
  virtual void connect(boost::asio::any_io_executor executor, ConnectHandler handler) = 0;
  virtual std::string describe() const = 0;
};

using ConnectorPtr = std::shared_ptr<Connector>;

}  // namespace berth::net
