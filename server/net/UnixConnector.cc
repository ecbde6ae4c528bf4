#include "server/net/UnixConnector.h"

#include "server/net/SocketStream.h"

namespace berth::net {

void UnixConnector::connect(boost::asio::any_io_executor executor, ConnectHandler handler) {
  using Protocol = boost::asio::local::stream_protocol;
  auto socket = std::make_shared<Protocol::socket>(executor);
  socket->async_connect(Protocol::endpoint(path_), [description = describe(), socket,
                                                    handler = std::move(handler)](ErrorCode ec) {
    if (ec) {
      ConnectError error{502,
                         "cannot reach the Docker engine at " + description + ": " + ec.message()};
      handler(nullptr, &error);
      return;
    }
    handler(std::make_unique<UnixStream>(std::move(*socket), description), nullptr);
  });
}

}  // namespace berth::net
