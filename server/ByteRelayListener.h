#pragma once
// ByteRelayListener: a unix socket (mode 0600) whose every connection is relayed byte for byte
// to a Connector's stream, with no protocol parsing (an L4 relay: containerd's gRPC is HTTP/2
// with prior knowledge, and must reach the engine unchanged). The connector may boot the guest
// first (BootingConnector); a connection it cannot serve is closed and the reason logged (gRPC
// clients report the closed stream). Each connection counts +1/-1 through `on_count` from
// accept to the end of both directions (idle stop). Listener calls from one control thread;
// connections between two unix sockets run on a thread pair each (ThreadedPipes), others on
// their own strands (RawPipe).
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <string>

#include "server/ThreadedPipes.h"
#include "server/UnixListener.h"
#include "server/net/Connector.h"

namespace berth::server {

class ByteRelayListener {
 public:
  ByteRelayListener(boost::asio::io_context& io, std::string path, net::ConnectorPtr upstream,
                    std::size_t chunk_bytes, std::function<void(int delta)> on_count);
  // Binds and listens; throws std::runtime_error with one clear line.
  void open();
  // Stops accepting and removes the socket file; relayed connections run on to their end.
  void stop();
  const std::string& path() const { return path_; }

 private:
  void relay(net::ByteStreamPtr client);

  std::string path_;
  net::ConnectorPtr upstream_;
  std::size_t chunk_bytes_;
  std::function<void(int)> on_count_;
  std::shared_ptr<UnixListener> listener_;
  // Connections whose both ends are plain unix sockets (ns); others run on RawPipe (qemu: TLS).
  // Shared with pending connects, which may outlive a stopped listener.
  std::shared_ptr<ThreadedPipes> threaded_;
};

}  // namespace berth::server
