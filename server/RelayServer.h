#pragma once
// RelayServer: the Docker API front of berth: its listeners, and a relay Session per accepted
// connection. stop() stops accepting at once, lets exchanges in flight finish for up to
// `grace`, then calls `done`. Methods are called from one control thread; sessions run where
// RelayConfig::place puts them (the daemon: net::IoPool), else on a strand each.
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "server/RelayConfig.h"
#include "server/SessionRegistry.h"
#include "server/TcpListener.h"
#include "server/UnixListener.h"

namespace berth::server {

class HeapTrimmer;

class RelayServer {
 public:
  RelayServer(boost::asio::io_context& io, const std::shared_ptr<const RelayConfig>& config);

  // Listens on a unix socket (mode 0600), or serves `adopted_fd`, a socket already listening
  // at `path` (socket activation); throws std::runtime_error with one clear line.
  void listenUnix(const std::string& path, int adopted_fd = -1);
  // Listens on TCP; with `tls` (a server context) every client must present a certificate
  // from its CA; null means plain TCP (the caller allows that only on loopback, on request).
  // Returns the bound port; throws std::runtime_error with one clear line.
  std::uint16_t listenTcp(const std::string& host, std::uint16_t port, net::TlsContextPtr tls);
  // Serves one accepted stream (from any listener, e.g. a TLS one).
  void serve(net::ByteStreamPtr stream);
  void stop(std::chrono::milliseconds grace, std::function<void()> done);
  std::size_t liveSessions() const { return registry_->size(); }
  // Client connections open now, hijacked ones included (what max_connections caps).
  std::size_t liveConnections() const { return *live_connections_; }

 private:
  boost::asio::io_context& io_;
  // Declared before config_, whose hook counts into them.
  std::shared_ptr<std::atomic<std::size_t>> live_connections_ =
      std::make_shared<std::atomic<std::size_t>>(0);
  std::shared_ptr<HeapTrimmer> trimmer_;
  std::shared_ptr<const RelayConfig> config_;
  std::shared_ptr<SessionRegistry> registry_;
  std::vector<std::shared_ptr<UnixListener>> listeners_;
  std::vector<std::shared_ptr<TcpListener>> tcp_listeners_;
  std::atomic<std::uint64_t> next_id_{1};
};

}  // namespace berth::server
