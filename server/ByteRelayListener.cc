#include "server/ByteRelayListener.h"

#include "server/RawPipe.h"
#include "server/net/Log.h"

namespace berth::server {

ByteRelayListener::ByteRelayListener(boost::asio::io_context& io, std::string path,
                                     net::ConnectorPtr upstream, std::size_t chunk_bytes,
                                     std::function<void(int)> on_count)
    : path_(std::move(path)),
      upstream_(std::move(upstream)),
      chunk_bytes_(chunk_bytes),
      on_count_(std::move(on_count)) {
  listener_ = std::make_shared<UnixListener>(
      io, path_, [this](net::ByteStreamPtr client) { relay(std::move(client)); });
}

void ByteRelayListener::open() {
  listener_->open();
  listener_->start();
  BERTH_LOG(Info, "server", "relaying unix://" << path_ << " to " << upstream_->describe());
}

void ByteRelayListener::stop() { listener_->stop(); }

void ByteRelayListener::relay(net::ByteStreamPtr client) {
  // Counted from the accept: a client waiting for the guest to boot is a client.
  auto count = on_count_;
  if (count) count(+1);
  auto executor = client->executor();
  // The connect handler is copyable: the client waits in a shared slot until it is moved on.
  auto slot = std::make_shared<net::ByteStreamPtr>(std::move(client));
  upstream_->connect(executor, [slot, count, chunk = chunk_bytes_, path = path_](
                                   net::ByteStreamPtr engine, const net::ConnectError* error) {
    if (error != nullptr) {
      BERTH_LOG(Warn, "server", "closing a client of " << path << ": " << error->message);
      (*slot)->close();
      if (count) count(-1);
      return;
    }
    auto pipe =
        std::make_shared<RawPipe>(std::move(*slot), std::move(engine), "", "", chunk, [count] {
          if (count) count(-1);
        });
    pipe->start();
  });
}

}  // namespace berth::server
