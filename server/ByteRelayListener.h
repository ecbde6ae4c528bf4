#pragma once
// ByteRelayListener: a unix socket (mode 0600) whose every connection is relayed byte for byte
// to a Connector's stream, with no protocol parsing (an L4 relay: containerd's gRPC is HTTP/2
// with prior knowledge, and must reach the engine unchanged). The connector may boot the guest
// first (BootingConnector); a connection it cannot serve is closed and the reason logged (gRPC
// clients report the closed stream). Each connection counts +1/-1 through `on_count` from
// accept to the end of both directions (idle stop). Listener calls from one control thread;
// connections between two unix sockets run on a thread pair each (ThreadedPipes), others on
// their own strands (RawPipe). With a `direct` socket (the engine's own, on the host's
// filesystem), serveDirectly(true) hands the path over to it (SocketHandover): new clients then
// reach the engine with no relay at all, and are neither relayed nor counted by berth.
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "server/SocketHandover.h"
#include "server/ThreadedPipes.h"
#include "server/UnixListener.h"
#include "server/net/Connector.h"

namespace berth::server {

class ByteRelayListener {
 public:
  ByteRelayListener(boost::asio::io_context& io, std::string path, net::ConnectorPtr upstream,
                    std::size_t chunk_bytes, std::function<void(int delta)> on_count,
                    std::string direct = "");
  // Binds and listens (replacing a hand-over a crashed daemon left); throws std::runtime_error
  // with one clear line.
  void open();
  // Stops accepting and removes the socket file; relayed connections run on to their end.
  void stop();
  // true: the path names the `direct` socket (when it is a socket now; else stays as it is);
  // false: berth's own listener. Idempotent, from any thread; a change or a failure is logged.
  void serveDirectly(bool direct);
  // true while new clients reach the `direct` socket, not berth.
  bool servedDirectly() const;
  // Whether serveDirectly(true) can do anything (a `direct` socket was given).
  bool mayServeDirectly() const { return !direct_.empty(); }
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
  std::string direct_;  // "" when clients are always relayed
  SocketHandover handover_;
  mutable std::mutex mutex_;  // a hand-over never races stop() (no link made after it)
  bool opened_ = false;       // under mutex_
  std::string last_failure_;  // the hand-over's last failure logged (under mutex_)
};

}  // namespace berth::server
