#pragma once
// RefusingConnector: an engine connector that never connects: every request on its socket gets
// one Docker-shaped error (`{"message": ...}` with `status`), e.g. docker.sock of a profile
// whose guest runs containerd, so `docker ps` prints one line saying how to use the profile.
// Immutable; thread-safe.
#include "server/net/Connector.h"

namespace berth::server {

class RefusingConnector final : public net::Connector {
 public:
  RefusingConnector(int status, std::string message)
      : status_(status), message_(std::move(message)) {}
  void connect(boost::asio::any_io_executor executor, net::ConnectHandler handler) override;
  std::string describe() const override { return "no Docker engine (" + message_ + ")"; }

 private:
  int status_;
  std::string message_;
};

}  // namespace berth::server
