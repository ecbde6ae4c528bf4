#pragma once
// UnixListener: accepts connections on a unix socket path and hands each, on the executor
// `place` gives (default: a strand of its own; see net::Placement), to `on_accept`. open() creates
// the socket mode 0600; a stale socket file left by a crash is replaced, a live one (something
// answers on it) is never stolen. stop() closes the acceptor and removes the socket file.
// Thread-safe: open/start/stop from one thread.
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <functional>
#include <memory>
#include <string>

#include "server/net/ByteStream.h"
#include "server/net/ConnectionExecutor.h"

namespace berth::server {

class UnixListener : public std::enable_shared_from_this<UnixListener> {
 public:
  using AcceptHandler = std::function<void(net::ByteStreamPtr)>;

  UnixListener(boost::asio::io_context& io, std::string path, AcceptHandler on_accept,
               net::Placement place = {});
  // Binds and listens; throws std::runtime_error with one clear line on failure.
  void open();
  // Instead of open(): serves `fd`, a socket already listening at path() (socket activation).
  // The socket file is its owner's (the service manager's): stop() leaves it in place.
  void adopt(int fd);
  void start();
  void stop();
  const std::string& path() const { return path_; }

 private:
  void accept();

  boost::asio::io_context& io_;
  std::string path_;
  AcceptHandler on_accept_;
  net::Placement place_;
  boost::asio::local::stream_protocol::acceptor acceptor_;
  bool stopped_ = false;
  bool adopted_ = false;
};

// Throws when `path` is too long for a unix socket address (107 bytes), naming the limit.
void checkSocketPathLength(const std::string& path);

}  // namespace berth::server
