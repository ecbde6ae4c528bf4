#pragma once
// InProcessConnector: a Connector whose streams are served inside this process. connect()
// makes a connected unix socket pair, hands one end to `serve` (a RelayServer's serve(), on
// a strand of its own) and the other to the caller, so an in-process client (the dashboard)
// takes byte for byte the path a client of docker.sock takes, without a socket file anyone
// else could reach. Thread-safe: `serve` must be safe to call on `io`.
#include <boost/asio/io_context.hpp>
#include <functional>
#include <string>

#include "server/net/Connector.h"

namespace berth::server {

class InProcessConnector final : public net::Connector {
 public:
  using Serve = std::function<void(net::ByteStreamPtr stream)>;

  InProcessConnector(boost::asio::io_context& io, Serve serve, std::string description);
  void connect(boost::asio::any_io_executor executor, net::ConnectHandler handler) override;
  std::string describe() const override { return description_; }

 private:
  boost::asio::io_context& io_;
  Serve serve_;
  std::string description_;
};

}  // namespace berth::server
