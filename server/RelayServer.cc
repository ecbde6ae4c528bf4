#include "server/RelayServer.h"

#include <sys/mman.h>

#include <boost/asio/steady_timer.hpp>
#include <new>

#include "server/ChunkCache.h"
#include "server/HeapTrimmer.h"
#include "server/OverloadReply.h"
#include "server/Session.h"
#include "server/net/Log.h"

namespace berth::server {

namespace {

constexpr std::size_t kPage = 4096;

// The config the sessions get: the caller's, with the connection hook also keeping the count
// that the connection cap reads (a session hands its count on to a hijacked pipe).
// The trimmer hears every change, and how many connections hold exchange buffers, to give
// memory back after a burst.
std::shared_ptr<const RelayConfig> counting(const std::shared_ptr<const RelayConfig>& config,
                                            const std::shared_ptr<std::atomic<std::size_t>>& live,
                                            const std::weak_ptr<HeapTrimmer>& trimmer) {
  auto copy = std::make_shared<RelayConfig>(*config);
  copy->on_connection_count = [live, trimmer, hook = config->on_connection_count](int delta) {
    std::size_t now = *live += static_cast<std::size_t>(delta);
    if (auto t = trimmer.lock()) t->connectionCount(now);
    if (hook) hook(delta);
  };
  auto busy = std::make_shared<std::atomic<std::size_t>>(0);
  copy->on_busy_count = [busy, trimmer, hook = config->on_busy_count](int delta) {
    std::size_t now = *busy += static_cast<std::size_t>(delta);
    if (auto t = trimmer.lock()) t->busyCount(now);
    if (hook) hook(delta);
  };
  return copy;
}

}  // namespace

RelayServer::RelayServer(boost::asio::io_context& io,
                         const std::shared_ptr<const RelayConfig>& config)
    : io_(io),
      trimmer_(std::make_shared<HeapTrimmer>(io.get_executor())),
      config_(counting(config, live_connections_, trimmer_)),
      registry_(std::make_shared<SessionRegistry>()) {
  ChunkCache::setBlockSize(config_->limits.chunk_bytes);
}

void RelayServer::listenUnix(const std::string& path, int adopted_fd) {
  auto listener = std::make_shared<UnixListener>(
      io_, path, [this](net::ByteStreamPtr stream) { serve(std::move(stream)); }, config_->place);
  if (adopted_fd >= 0) {
    listener->adopt(adopted_fd);
  } else {
    listener->open();
  }
  listener->start();
  listeners_.push_back(listener);
  BERTH_LOG(Info, "server",
            "listening on unix://" << path << ", engine " << config_->engine->describe());
}

std::uint16_t RelayServer::listenTcp(const std::string& host, std::uint16_t port,
                                     net::TlsContextPtr tls) {
  auto listener = std::make_shared<TcpListener>(
      io_, host, port, std::move(tls),
      [this](net::ByteStreamPtr stream) { serve(std::move(stream)); },
      TcpListener::Options{.place = config_->place});
  listener->open();
  listener->start();
  tcp_listeners_.push_back(listener);
  BERTH_LOG(Info, "server",
            "listening on " << listener->describe() << ", engine " << config_->engine->describe());
  return listener->port();
}

void RelayServer::serve(net::ByteStreamPtr stream) {
  if (*live_connections_ >= config_->limits.max_connections) {
    BERTH_LOG(Warn, "server",
              "refusing " << stream->describe() << ": " << config_->limits.max_connections
                          << " connections already open");
    OverloadReply::send(std::move(stream), 503,
                        "berth is serving too many connections (limit " +
                            std::to_string(config_->limits.max_connections) +
                            "); retry later, or close idle clients");
    return;
  }
  const std::uint64_t id = next_id_++;
  // A session lives in pages of its own, not among the small objects a connection leaves in
  // the heap (Asio keeps each socket's reactor state for reuse): after a burst, the closed
  // sessions go back to the system at once instead of pinning the heap pages they shared
  // (issue 19: 1000 closed connections held 3.4 MiB that malloc_trim could not return).
  constexpr std::size_t kBytes = (sizeof(Session) + kPage - 1) / kPage * kPage;
  void* memory =
      ::mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) throw std::bad_alloc();
  Session* raw;
  try {
    raw = new (memory) Session(std::move(stream), config_, id);
  } catch (...) {
    ::munmap(memory, kBytes);
    throw;
  }
  // The registry entry goes when the session does: the session's last owner is its own
  // pending operation, so a custom deleter is the one place that sees the end.
  auto registry = registry_;
  std::shared_ptr<Session> session(raw, [registry, id](Session* s) {
    registry->remove(id);
    s->~Session();
    ::munmap(s, kBytes);
  });
  registry_->add(id, session);
  session->start();
}

void RelayServer::stop(std::chrono::milliseconds grace, std::function<void()> done) {
  for (auto& l : listeners_) l->stop();
  for (auto& l : tcp_listeners_) l->stop();
  registry_->stopAll();
  auto deadline = std::chrono::steady_clock::now() + grace;
  auto timer = std::make_shared<boost::asio::steady_timer>(io_);
  auto check = std::make_shared<std::function<void()>>();
  *check = [this, timer, deadline, done = std::move(done), check]() {
    if (registry_->size() == 0 || std::chrono::steady_clock::now() >= deadline) {
      if (registry_->size() > 0) {
        BERTH_LOG(Warn, "server", registry_->size() << " connection(s) still open at shutdown");
      }
      done();
      *check = nullptr;  // break the self-reference
      return;
    }
    timer->expires_after(std::chrono::milliseconds(50));
    timer->async_wait([check](boost::system::error_code) {
      if (*check) (*check)();
    });
  };
  (*check)();
}

}  // namespace berth::server
