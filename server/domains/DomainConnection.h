#pragma once
// DomainConnection: one client connection to the names front. Reads the first request head
// (bounded in size and time), asks the DomainRouter where its Host goes, then either answers
// with the router's page and closes, or connects to the target and hands both sockets to a
// RawPipe with the bytes already read: everything after the head -- bodies, chunked or streamed
// responses, a WebSocket after its 101 -- is relayed as bytes, unbuffered, with half-close.
// A keep-alive connection stays with the container its first request named. A stopped
// berth.wake=true container is started first (fwd::WakeController) and waited for. Lives while an
// operation is pending (shared_from_this); runs on the client stream's strand.
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "server/domains/DomainRouter.h"
#include "server/net/ByteStream.h"

namespace berth::server {

class DomainConnection : public std::enable_shared_from_this<DomainConnection> {
 public:
  static constexpr std::size_t kMaxHead = 64 * 1024;

  DomainConnection(net::ByteStreamPtr client, std::shared_ptr<const DomainRouter> router,
                   std::chrono::milliseconds head_timeout);
  void start();

 private:
  void read();
  void onRead(net::ErrorCode ec, std::size_t n);
  void onHead(const std::string& host);
  void wake();
  void routeAfterWake();
  void connect();
  void onConnected(net::ErrorCode ec);
  // Writes `response` whole, half-closes, drains what the client still sends, then closes.
  void answer(std::string response);
  void writeReply(std::size_t offset);
  void drain();
  void drainRead();
  void close();

  net::ByteStreamPtr client_;
  std::shared_ptr<const DomainRouter> router_;
  boost::asio::steady_timer timer_;
  std::chrono::milliseconds head_timeout_;
  std::string head_;  // every byte read from the client so far
  std::unique_ptr<char[]> chunk_;
  std::string reply_;
  DomainRouter::Route route_;
  std::string host_;
  std::unique_ptr<boost::asio::ip::tcp::socket> upstream_;
  // Set once a wake succeeded: connects refused before it are retried (the server starts).
  std::optional<std::chrono::steady_clock::time_point> wake_deadline_;
};

}  // namespace berth::server
