#pragma once
// RelayConfig: what every relay Session shares: where the engine is, the filters, the limits,
// and a hook to count live client connections (idle-stop). Built once, then read-only;
// safe to share across threads.
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>

#include "api/FilterChain.h"
#include "server/RequestGate.h"
#include "server/net/ConnectionExecutor.h"
#include "server/net/Connector.h"
#include "vm/RelayTuning.h"

namespace berth::server {

// max_connections and head_timeout default to berth.yaml's (vm::RelayTuning): one definition.
struct RelayLimits {
  std::size_t max_header_bytes = std::size_t{64} * 1024;  // request line + headers (431 beyond)
  std::size_t max_request_line = std::size_t{16} * 1024;  // method + target + version (414 beyond)
  std::size_t max_header_count = 128;                     // header fields (431 beyond)
  std::size_t max_connections =
      vm::RelayTuning::kDefaultMaxConnections;  // live clients (503 beyond)
  std::size_t max_filtered_body =
      std::size_t{16} * 1024 * 1024;  // JSON bodies a filter buffers (413 beyond)
  std::chrono::seconds head_timeout{vm::RelayTuning::kDefaultHeadTimeoutSeconds};  // request head
  std::size_t chunk_bytes = std::size_t{64} * 1024;  // streaming buffer per direction
};

struct RelayConfig {
  net::ConnectorPtr engine;
  std::shared_ptr<const api::FilterChainFactory> filters;
  std::shared_ptr<RequestGate> gate;  // may be null
  RelayLimits limits;
  // Called with +1 when a client connection opens and -1 when it closes (may be empty).
  std::function<void(int delta)> on_connection_count;
  // Where each accepted connection runs (net::IoPool::place); empty: a strand of its own on the
  // server's io_context.
  net::Placement place;
  // Called with +1 when a connection takes its exchange buffers (a request is arriving) and
  // -1 when it gives them back, idle again or closed (may be empty).
  std::function<void(int delta)> on_busy_count;
};

}  // namespace berth::server
