#pragma once
// SpliceRelay: one forwarded TCP connection, relayed both ways with splice(2) through a pipe per
// direction (from PipePool), so bytes never enter user space and each connection holds at most
// two pipe buffers (256 KiB each) of kernel memory. Half-close kept: EOF one way shuts down
// sending on the other side once the pipe is drained, and the other direction runs on until it
// ends too. Lives while an operation is pending (shared_from_this); runs on its sockets' strand;
// close() may be called from any thread (it posts to that strand). Linux only.
#include <boost/asio/ip/tcp.hpp>
#include <functional>
#include <memory>

#include "forwarding/GuestNetns.h"
#include "forwarding/PipePool.h"
#include "server/net/ByteStream.h"

namespace berth::fwd {

class SpliceRelay : public std::enable_shared_from_this<SpliceRelay> {
 public:
  using Socket = boost::asio::ip::tcp::socket;

  // `client` was accepted non-blocking (O_NONBLOCK: splice needs it) on a fresh strand; the
  // upstream socket shares its executor and is opened in `netns` when that is set. `on_finished`
  // runs once, on that strand, when both directions have ended.
  SpliceRelay(Socket client, boost::asio::ip::tcp::endpoint target,
              std::shared_ptr<const GuestNetns> netns, std::function<void()> on_finished);
  ~SpliceRelay();

  void start();
  void close();

 private:
  struct Direction {
    Socket* from = nullptr;
    Socket* to = nullptr;
    Pipe pipe;
    std::size_t in_pipe = 0;
    bool eof = false;
    bool done = false;
  };

  void onConnected(net::ErrorCode ec);
  void pump(Direction& d);
  void waitThenPump(Direction& d, Socket& socket, Socket::wait_type what);
  void fail(const char* what, int error);
  void finishIfDone();

  Socket client_;
  Socket upstream_;
  boost::asio::ip::tcp::endpoint target_;
  std::shared_ptr<const GuestNetns> netns_;
  std::function<void()> on_finished_;
  Direction to_guest_;
  Direction to_client_;
  bool finished_ = false;
};

}  // namespace berth::fwd
