#pragma once
// UnixConnector: connects to a unix stream socket path (e.g. the guest dockerd's socket
// under the ns driver). Thread-safe; stateless apart from the path.
#include "server/net/Connector.h"

namespace berth::net {

class UnixConnector final : public Connector {
 public:
  explicit UnixConnector(std::string path) : path_(std::move(path)) {}
  void connect(boost::asio::any_io_executor executor, ConnectHandler handler) override;
  std::string describe() const override { return "unix://" + path_; }

 private:
  std::string path_;
};

}  // namespace berth::net
