#pragma once
// DomainConnection: one client connection to the names front. Reads the first request head
// (bounded in size and time), asks the DomainRouter where its Host goes, then either answers
// with the router's page and closes, or connects to the target and hands both sockets to a
// RawPipe with the bytes already read: everything after the head -- bodies, chunked or streamed
// responses, a WebSocket after its 101 -- is relayed as bytes, unbuffered, with half-close.
// A keep-alive connection stays with the container its first request named. A guest stopped
// for now is booted first (DomainRouter::routeWhenReady), a stopped berth.wake=true container
// started (fwd::WakeController), each waited for. The connection to the container is made in
// the guest's network namespace, or through the route's connector (a VM: vm::GuestDialer). Its
// Holds last as long as it does. Lives while an operation is pending (shared_from_this); runs on
// the client stream's strand.
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "server/domains/DomainRouter.h"
#include "server/net/ByteStream.h"

namespace berth::server {

class DomainConnection : public std::enable_shared_from_this<DomainConnection> {
 public:
  // How long a request waits for its guest to boot and list its containers.
  static constexpr std::chrono::seconds kReadyTimeout{120};

  // What the connection keeps while it lives (DomainsFront::Options): `client` until it ends
  // or names another profile; `container(id)`'s hold while it relays to that container.
  struct Holds {
    std::shared_ptr<void> client;
    std::function<std::shared_ptr<void>(const std::string& container)> container;
  };

  DomainConnection(net::ByteStreamPtr client, std::shared_ptr<DomainRouter> router,
                   std::chrono::milliseconds head_timeout, Holds holds = {});
  void start();

 private:
  void read();
  void onRead(net::ErrorCode ec, std::size_t n);
  void onHead(const std::string& host);
  void onRoute(DomainRouter::Route route);
  void wake();
  void routeAfterWake();
  void connect();
  void connectThrough();
  void onConnected(net::ErrorCode ec);
  // A connect failed: retried while a wake's server may still be starting (`refused`), else
  // the page saying why.
  void failConnect(const std::string& why, bool refused);
  void relay(net::ByteStreamPtr upstream);
  // Writes `response` whole, half-closes, drains what the client still sends, then closes.
  void answer(std::string response);
  void writeReply(std::size_t offset);
  void drain();
  void drainRead();
  void close();

  net::ByteStreamPtr client_;
  std::shared_ptr<DomainRouter> router_;
  Holds holds_;
  bool routing_ = false;  // waiting for routeWhenReady's answer
  boost::asio::steady_timer timer_;
  std::chrono::milliseconds head_timeout_;
  std::string head_;  // every byte read from the client so far
  std::unique_ptr<char[]> chunk_;
  std::string reply_;
  DomainRouter::Route route_;
  std::string host_;
  std::unique_ptr<boost::asio::ip::tcp::socket> upstream_;
  std::uint64_t attempt_ = 0;  // connectThrough()'s current try (a timed-out one is dropped)
  // Set once a wake succeeded: connects refused before it are retried (the server starts).
  std::optional<std::chrono::steady_clock::time_point> wake_deadline_;
};

}  // namespace berth::server
