#include "server/InProcessConnector.h"

#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

#include "server/net/SocketStream.h"

namespace berth::server {

InProcessConnector::InProcessConnector(boost::asio::io_context& io, Serve serve,
                                       std::string description)
    : io_(io), serve_(std::move(serve)), description_(std::move(description)) {}

void InProcessConnector::connect(boost::asio::any_io_executor executor,
                                 net::ConnectHandler handler) {
  using Protocol = boost::asio::local::stream_protocol;
  Protocol::socket client(executor);
  Protocol::socket server(boost::asio::make_strand(io_));
  net::ErrorCode ec;
  boost::asio::local::connect_pair(client, server, ec);
  if (ec) {
    boost::asio::post(executor, [handler = std::move(handler),
                                 why = "cannot reach " + description_ + ": " + ec.message()] {
      net::ConnectError error{502, why};
      handler(nullptr, &error);
    });
    return;
  }
  net::ByteStreamPtr served = std::make_unique<net::UnixStream>(std::move(server), description_);
  auto shared_served = std::make_shared<net::ByteStreamPtr>(std::move(served));
  boost::asio::post(io_, [serve = serve_, shared_served] { serve(std::move(*shared_served)); });
  auto stream = std::make_shared<net::ByteStreamPtr>(
      std::make_unique<net::UnixStream>(std::move(client), description_));
  boost::asio::post(
      executor, [handler = std::move(handler), stream] { handler(std::move(*stream), nullptr); });
}

}  // namespace berth::server
