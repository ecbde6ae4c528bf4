#include "server/domains/DomainConnection.h"

#include <boost/asio/post.hpp>

#include "forwarding/GuestNetns.h"
#include "forwarding/WakeController.h"
#include "server/RawPipe.h"
#include "server/domains/DomainHead.h"
#include "server/domains/DomainPages.h"
#include "server/net/Log.h"
#include "server/net/SocketStream.h"

namespace berth::server {
namespace {

constexpr std::size_t kChunk = std::size_t{16} << 10;
constexpr std::size_t kPipeChunk = std::size_t{64} << 10;
constexpr std::chrono::seconds kConnectTimeout{10};
constexpr std::chrono::seconds kDrainTimeout{5};
constexpr std::chrono::milliseconds kWakeRetry{50};

}  // namespace

DomainConnection::DomainConnection(net::ByteStreamPtr client, std::shared_ptr<DomainRouter> router,
                                   std::chrono::milliseconds head_timeout, Holds holds)
    : client_(std::move(client)),
      router_(std::move(router)),
      holds_(std::move(holds)),
      timer_(client_->executor()),
      head_timeout_(head_timeout) {}

void DomainConnection::start() {
  timer_.expires_after(head_timeout_);
  timer_.async_wait([weak = weak_from_this()](net::ErrorCode ec) {
    if (ec) return;
    if (auto self = weak.lock()) self->close();  // a head (or a connect) that never came
  });
  read();
}

void DomainConnection::read() {
  if (!chunk_) chunk_ = std::make_unique<char[]>(kChunk);
  client_->readSome(
      boost::asio::buffer(chunk_.get(), kChunk),
      [self = shared_from_this()](net::ErrorCode ec, std::size_t n) { self->onRead(ec, n); });
}

void DomainConnection::onRead(net::ErrorCode ec, std::size_t n) {
  if (ec) return close();
  head_.append(chunk_.get(), n);
  const DomainHead head = DomainHead::parse(head_);
  switch (head.state) {
    case DomainHead::State::NeedMore:
      return read();
    case DomainHead::State::Bad:
      return answer(DomainPages::badRequest(head.why));
    case DomainHead::State::Done:
      chunk_.reset();
      return onHead(head.host);
  }
}

void DomainConnection::onHead(const std::string& host) {
  host_ = host;
  routing_ = true;
  timer_.expires_after(kReadyTimeout);
  timer_.async_wait([weak = weak_from_this()](net::ErrorCode ec) {
    auto self = weak.lock();
    if (ec || !self || !self->routing_) return;
    self->routing_ = false;
    const auto name = DomainName::parse(self->host_);
    self->answer(
        DomainPages::guestDown(self->host_, name ? name->profile : "",
                               "not up after " + std::to_string(kReadyTimeout.count()) + " s"));
  });
  router_->routeWhenReady(
      host, client_->executor(),
      [self = shared_from_this()](DomainRouter::Route route) { self->onRoute(std::move(route)); });
}

void DomainConnection::onRoute(DomainRouter::Route route) {
  if (!routing_) return;  // answered meanwhile (kReadyTimeout)
  routing_ = false;
  timer_.cancel();
  route_ = std::move(route);
  if (route_.other_profile) holds_.client.reset();  // that profile's front counts it
  if (route_.waker) return wake();
  connect();
}

// A stopped berth.wake=true container: start it, then route again once the engine lists it as
// running, and connect until its server accepts, all within its berth.wake.timeout.
void DomainConnection::wake() {
  timer_.cancel();
  wake_deadline_ = std::chrono::steady_clock::now() + route_.wake_timeout;
  BERTH_LOG(Info, "domains", host_ << ": waking " << route_.wake_name);
  fwd::WakeController::Target target;
  target.container = route_.wake_container;
  target.name = route_.wake_name;
  target.netns = route_.netns;
  target.timeout = route_.wake_timeout;  // probe port 0: its address is known once it runs
  auto waker = std::move(route_.waker);
  waker->wake(std::move(target), [self = shared_from_this()](const std::string& error) {
    boost::asio::post(self->client_->executor(), [self, error] {
      if (!error.empty()) {
        BERTH_LOG(Warn, "domains",
                  self->host_ << ": cannot wake " << self->route_.wake_name << ": " << error);
        return self->answer(DomainPages::notWoken(self->host_, self->route_.wake_name, error));
      }
      self->routeAfterWake();
    });
  });
}

void DomainConnection::routeAfterWake() {
  const std::string name = route_.wake_name;
  route_ = router_->route(host_);
  if (route_.waker || route_.reply.find(" 404 ") != std::string::npos) {
    // The engine's start event has not reached the name table yet.
    if (std::chrono::steady_clock::now() >= wake_deadline_)
      return answer(DomainPages::notWoken(host_, name, "it did not show as running in time"));
    route_.waker.reset();
    timer_.expires_after(kWakeRetry);
    timer_.async_wait([self = shared_from_this()](net::ErrorCode ec) {
      if (!ec) self->routeAfterWake();
    });
    return;
  }
  connect();
}

void DomainConnection::connect() {
  if (!route_.reply.empty()) {
    BERTH_LOG(Debug, "domains", host_ << ": answered by berth");
    return answer(std::move(route_.reply));
  }
  if (route_.connector) return connectThrough();
  upstream_ = std::make_unique<boost::asio::ip::tcp::socket>(client_->executor());
  net::ErrorCode ec;
  fwd::openSocket(route_.netns.get(), *upstream_, route_.target.protocol(), ec);
  if (!ec) upstream_->set_option(boost::asio::ip::tcp::no_delay(true), ec);
  if (ec) return onConnected(ec);
  timer_.expires_after(kConnectTimeout);  // the head timer's handler closes on expiry
  timer_.async_wait([weak = weak_from_this()](net::ErrorCode wait_ec) {
    if (wait_ec) return;
    if (auto self = weak.lock(); self && self->upstream_) self->upstream_->close();
  });
  upstream_->async_connect(route_.target, [self = shared_from_this()](net::ErrorCode connect_ec) {
    self->onConnected(connect_ec);
  });
}

// Through the driver's dialer (a VM's guest): its connector says why a connect failed, and a
// refused port fails it too (vm::GuestDialer).
void DomainConnection::connectThrough() {
  const std::uint64_t attempt = ++attempt_;
  timer_.expires_after(kConnectTimeout);
  timer_.async_wait([weak = weak_from_this(), attempt](net::ErrorCode ec) {
    auto self = weak.lock();
    if (ec || !self || self->attempt_ != attempt) return;
    ++self->attempt_;  // its answer, when it comes, is dropped
    self->failConnect("no answer in " + std::to_string(kConnectTimeout.count()) + " s", false);
  });
  route_.connector->connect(
      client_->executor(), [self = shared_from_this(), attempt](net::ByteStreamPtr stream,
                                                                const net::ConnectError* error) {
        if (self->attempt_ != attempt) return;  // timed out meanwhile
        self->timer_.cancel();
        if (!error) return self->relay(std::move(stream));
        std::string why = error->message;
        const std::string prefix = "cannot reach " + self->route_.describe + ": ";
        if (why.starts_with(prefix)) why.erase(0, prefix.size());
        self->failConnect(why, true);
      });
}

void DomainConnection::onConnected(net::ErrorCode ec) {
  timer_.cancel();
  if (ec) {
    return failConnect(
        ec == boost::asio::error::operation_aborted ? "no answer in 10 s" : ec.message(),
        ec == boost::asio::error::connection_refused);
  }
  auto upstream = std::make_unique<net::TcpStream>(std::move(*upstream_), route_.describe);
  upstream_.reset();
  relay(std::move(upstream));
}

void DomainConnection::failConnect(const std::string& why, bool refused) {
  if (refused && wake_deadline_ && std::chrono::steady_clock::now() < *wake_deadline_) {
    // Just woken: its server may not listen yet.
    upstream_.reset();
    timer_.expires_after(kWakeRetry);
    timer_.async_wait([self = shared_from_this()](net::ErrorCode wait_ec) {
      if (!wait_ec) self->connect();
    });
    return;
  }
  BERTH_LOG(Info, "domains", host_ << " -> " << route_.describe << ": " << why);
  answer(route_.other_profile ? DomainPages::guestDown(host_, DomainName::parse(host_)->profile,
                                                       "not answering (" + why + ")")
                              : DomainPages::unreachable(host_, route_.describe, why));
}

void DomainConnection::relay(net::ByteStreamPtr upstream) {
  BERTH_LOG(Debug, "domains", host_ << " -> " << route_.describe);
  std::shared_ptr<void> container_hold;
  if (!route_.container.empty() && holds_.container)
    container_hold = holds_.container(route_.container);
  auto pipe = std::make_shared<RawPipe>(
      std::move(client_), std::move(upstream), std::move(head_), std::string(), kPipeChunk,
      [client_hold = std::move(holds_.client),
       container_hold = std::move(container_hold)]() mutable {
        container_hold.reset();  // the container's idle time, then the profile's, start now
        client_hold.reset();
      });
  pipe->start();
}

void DomainConnection::answer(std::string response) {
  timer_.cancel();
  reply_ = std::move(response);
  writeReply(0);
}

void DomainConnection::writeReply(std::size_t offset) {
  if (offset == reply_.size()) {
    client_->shutdownSend([self = shared_from_this()](net::ErrorCode) { self->drain(); });
    return;
  }
  const boost::asio::const_buffer buffer(reply_.data() + offset, reply_.size() - offset);
  client_->writeSome(std::span(&buffer, 1),
                     [self = shared_from_this(), offset](net::ErrorCode ec, std::size_t n) {
                       if (ec) return self->close();
                       self->writeReply(offset + n);
                     });
}

// Closing with unread request bytes would reset the connection and could lose the page on
// the client's side: read to EOF first, bounded in time.
void DomainConnection::drain() {
  timer_.expires_after(kDrainTimeout);
  timer_.async_wait([weak = weak_from_this()](net::ErrorCode ec) {
    if (ec) return;
    if (auto self = weak.lock()) self->close();
  });
  drainRead();
}

void DomainConnection::drainRead() {
  if (!chunk_) chunk_ = std::make_unique<char[]>(kChunk);
  client_->readSome(boost::asio::buffer(chunk_.get(), kChunk),
                    [self = shared_from_this()](net::ErrorCode ec, std::size_t) {
                      if (ec) return self->close();
                      self->drainRead();
                    });
}

void DomainConnection::close() {
  timer_.cancel();
  if (client_) client_->close();
  if (upstream_) {
    net::ErrorCode ignored;
    upstream_->close(ignored);
  }
}

}  // namespace berth::server
