#include "server/ByteRelayListener.h"

#include <unistd.h>

#include <boost/asio/post.hpp>
#include <cerrno>
#include <cstring>

#include "server/RawPipe.h"
#include "server/net/Log.h"
#include "server/net/SocketStream.h"

namespace berth::server {

ByteRelayListener::ByteRelayListener(boost::asio::io_context& io, std::string path,
                                     net::ConnectorPtr upstream, std::size_t chunk_bytes,
                                     std::function<void(int)> on_count, std::string direct)
    : path_(std::move(path)),
      upstream_(std::move(upstream)),
      chunk_bytes_(chunk_bytes),
      on_count_(std::move(on_count)),
      threaded_(std::make_shared<ThreadedPipes>(chunk_bytes)),
      direct_(std::move(direct)),
      handover_(path_) {
  listener_ = std::make_shared<UnixListener>(
      io, path_, [this](net::ByteStreamPtr client) { relay(std::move(client)); });
}

void ByteRelayListener::open() {
  // The engine answers on a path a crashed daemon handed to it: not another berth's socket.
  if (!direct_.empty() && SocketHandover::isHandedTo(path_, direct_)) ::unlink(path_.c_str());
  listener_->open();
  if (!direct_.empty()) handover_.remember();
  std::lock_guard lock(mutex_);
  opened_ = true;
  listener_->start();
  BERTH_LOG(Info, "server", "relaying unix://" << path_ << " to " << upstream_->describe());
}

void ByteRelayListener::stop() {
  std::lock_guard lock(mutex_);
  opened_ = false;
  listener_->stop();  // removes the path, whichever socket it names
  handover_.forget();
}

void ByteRelayListener::serveDirectly(bool direct) {
  std::lock_guard lock(mutex_);
  if (direct_.empty() || !opened_) return;
  const bool was = handover_.handedOver();
  std::string why;
  const bool ok = direct ? handover_.handTo(direct_, why) : handover_.takeBack(why);
  if (!ok) {
    // Once per reason: the check runs every second while the engine's socket is missing.
    if (why != last_failure_)
      BERTH_LOG(Warn, "server", "unix://" << path_ << " stays as it is: " << why);
    last_failure_ = why;
    return;
  }
  last_failure_.clear();
  if (was != direct) {
    BERTH_LOG(
        Info, "server",
        "unix://" << path_
                  << (direct ? " now names " + direct_ + " (clients reach the engine directly)"
                             : " is berth's again (clients are relayed)"));
  }
}

bool ByteRelayListener::servedDirectly() const {
  std::lock_guard lock(mutex_);
  return opened_ && handover_.handedOver();
}

namespace {

// A unix socket's descriptor, taken from its stream (duplicated, the stream closed); -1 when
// dup fails (the stream is left open).
int takeFd(net::UnixStream& stream) {
  const int fd = ::dup(stream.socket().native_handle());
  if (fd >= 0) stream.close();
  return fd;
}

// Both ends on plain unix sockets (the ns driver's guest socket): the relay runs on a thread
// pair (ThreadedPipes says why). false when either end is another kind of stream.
bool relayOnThreads(ThreadedPipes& threaded, net::ByteStream& client, net::ByteStream& engine,
                    std::function<void()> done) {
  auto* client_unix = dynamic_cast<net::UnixStream*>(&client);
  auto* engine_unix = dynamic_cast<net::UnixStream*>(&engine);
  if (client_unix == nullptr || engine_unix == nullptr) return false;
  const int client_fd = takeFd(*client_unix);
  const int engine_fd = takeFd(*engine_unix);
  if (client_fd < 0 || engine_fd < 0) {  // out of descriptors: the connection cannot go on
    BERTH_LOG(Warn, "server", "closing a containerd connection: dup: " << std::strerror(errno));
    if (client_fd >= 0) ::close(client_fd);
    if (engine_fd >= 0) ::close(engine_fd);
    client.close();
    engine.close();
    done();
    return true;
  }
  threaded.relay(client_fd, engine_fd, std::move(done));
  return true;
}

}  // namespace

void ByteRelayListener::relay(net::ByteStreamPtr client) {
  // Counted from the accept: a client waiting for the guest to boot is a client.
  auto count = on_count_;
  if (count) count(+1);
  auto executor = client->executor();
  // The connect handler is copyable: the client waits in a shared slot until it is moved on.
  auto slot = std::make_shared<net::ByteStreamPtr>(std::move(client));
  upstream_->connect(
      executor, [slot, count, chunk = chunk_bytes_, path = path_, threaded = threaded_, executor](
                    net::ByteStreamPtr engine, const net::ConnectError* error) {
        if (error != nullptr) {
          BERTH_LOG(Warn, "server", "closing a client of " << path << ": " << error->message);
          (*slot)->close();
          if (count) count(-1);
          return;
        }
        // The count's -1 runs on the listener's executor, as the +1 did.
        auto done = [count, executor] {
          if (count) boost::asio::post(executor, [count] { count(-1); });
        };
        if (relayOnThreads(*threaded, **slot, *engine, done)) return;
        auto pipe =
            std::make_shared<RawPipe>(std::move(*slot), std::move(engine), "", "", chunk, [count] {
              if (count) count(-1);
            });
        pipe->start();
      });
}

}  // namespace berth::server
