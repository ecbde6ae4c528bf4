#include "server/RefusingConnector.h"

#include <boost/asio/post.hpp>

namespace berth::server {

void RefusingConnector::connect(boost::asio::any_io_executor executor,
                                net::ConnectHandler handler) {
  // Posted: a connector's handler never runs inside connect().
  boost::asio::post(executor, [error = net::ConnectError{status_, message_},
                               handler = std::move(handler)] { handler(nullptr, &error); });
}

}  // namespace berth::server
