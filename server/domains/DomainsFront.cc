#include "server/domains/DomainsFront.h"

#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

#include "forwarding/EngineClient.h"
#include "forwarding/EventWatcher.h"
#include "forwarding/GuestNetns.h"
#include "forwarding/WakeController.h"
#include "forwarding/WakeLabels.h"
#include "server/TcpListener.h"
#include "server/domains/DomainConnection.h"
#include "server/domains/DomainName.h"
#include "server/net/Log.h"

namespace berth::server {

DomainsFront::DomainsFront(boost::asio::io_context& io, Options options)
    : io_(io), options_(std::move(options)), shared_timer_(io) {
  // A stale port file of another profile may name this front's own port: never loop to it.
  router_ = std::make_shared<DomainRouter>(
      options_.profile,
      [this, lookup = options_.profile_port](const std::string& profile) {
        const std::uint16_t port = lookup ? lookup(profile) : 0;
        return port == this->port() ? std::uint16_t{0} : port;
      },
      options_.boot);
}

DomainsFront::~DomainsFront() { stop(); }

void DomainsFront::accept(net::ByteStreamPtr client) {
  DomainConnection::Holds holds;
  if (options_.hold_client) holds.client = options_.hold_client();
  holds.container = options_.hold_container;
  std::make_shared<DomainConnection>(std::move(client), router_, options_.head_timeout,
                                     std::move(holds))
      ->start();
}

void DomainsFront::open() {
  auto on_accept = [this](net::ByteStreamPtr client) { accept(std::move(client)); };
  const std::uint16_t wanted = options_.port != 0 ? options_.port : options_.kept_port;
  own_ = std::make_shared<TcpListener>(io_, "127.0.0.1", wanted, nullptr, on_accept);
  try {
    own_->open();
  } catch (const std::exception& e) {
    if (options_.port != 0 || wanted == 0) throw;
    BERTH_LOG(Warn, "domains", "the kept port " << wanted << " is taken; another one");
    own_ = std::make_shared<TcpListener>(io_, "127.0.0.1", 0, nullptr, on_accept);
    own_->open();
  }
  own_->start();
  BERTH_LOG(Info, "domains",
            "names on http://" << DomainName::hostFor("<container>", options_.profile) << ":"
                               << port() << "/");
  tryShared();
}

void DomainsFront::tryShared() {
  if (options_.shared_port == 0 || options_.shared_port == port()) return;
  std::lock_guard lock(mutex_);
  if (stopped_ || shared_) return;
  auto listener = std::make_shared<TcpListener>(
      io_, "127.0.0.1", options_.shared_port, nullptr,
      [this](net::ByteStreamPtr client) { accept(std::move(client)); });
  try {
    listener->open();
    listener->start();
    shared_ = std::move(listener);
    shared_error_.clear();
    BERTH_LOG(Info, "domains",
              "holding 127.0.0.1:" << options_.shared_port << " for every profile's names");
    return;
  } catch (const std::exception& e) {
    if (shared_error_.empty())
      BERTH_LOG(Info, "domains",
                "127.0.0.1:" << options_.shared_port << " is not ours (" << e.what()
                             << "); retrying every " << options_.shared_retry.count() / 1000
                             << " s");
    shared_error_ = e.what();
  }
  shared_timer_.expires_after(options_.shared_retry);
  shared_timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) tryShared();
  });
}

void DomainsFront::stop() {
  std::shared_ptr<TcpListener> shared;
  {
    std::lock_guard lock(mutex_);
    stopped_ = true;
    shared = std::move(shared_);
  }
  shared_timer_.cancel();
  if (shared) shared->stop();
  if (own_) own_->stop();
  guestDown("stopping");
}

std::uint16_t DomainsFront::port() const { return own_ ? own_->port() : 0; }

void DomainsFront::guestUp(net::ConnectorPtr engine, const std::string& guest_netns,
                           DomainRouter::Dial dial) {
  std::shared_ptr<const fwd::GuestNetns> netns;
  if (!guest_netns.empty()) {
    std::string error;
    netns = fwd::GuestNetns::open(guest_netns, error);
    if (!netns) {
      BERTH_LOG(Error, "domains", "cannot enter " << guest_netns << ": " << error);
      router_->guestDown("unreachable (" + error + ")");
      return;
    }
  }
  auto strand = boost::asio::make_strand(io_);
  // After every list of running containers, the berth.wake ones (stopped too) are listed, so a
  // request by name can wake them; answers older than the latest list are dropped.
  struct Sleepers {
    Sleepers(net::ConnectorPtr engine, boost::asio::any_io_executor executor)
        : client(std::move(engine), std::move(executor)) {}
    fwd::EngineClient client;
    nlohmann::json list = nlohmann::json::array();
    std::uint64_t generation = 0;
    bool listed = false;  // `list` answered once (requests wait for that after a boot)
  };
  auto sleepers = std::make_shared<Sleepers>(engine, strand);
  fwd::EventWatcher::Callbacks callbacks;
  callbacks.on_containers = [router = router_, sleepers](const nlohmann::json& containers) {
    router->setContainers(containers, sleepers->list, sleepers->listed);
    const std::uint64_t generation = ++sleepers->generation;
    sleepers->client.get(fwd::WakeLabels::kListTarget,
                         [router, sleepers, generation, containers](
                             const std::string& error, int status, const std::string& body) {
                           if (generation != sleepers->generation) return;
                           auto list = nlohmann::json::parse(body, nullptr, false);
                           if (error.empty() && status == 200 && list.is_array())
                             sleepers->list = std::move(list);
                           // A failed list still ends the wait: the running containers are served.
                           sleepers->listed = true;
                           router->setContainers(containers, sleepers->list);
                         });
  };
  auto waker = fwd::WakeController::create(strand, engine);
  auto watcher = std::make_shared<fwd::EventWatcher>(std::move(engine), strand, callbacks);
  {
    std::lock_guard lock(mutex_);
    if (watcher_) {
      boost::asio::post(watcher_strand_, [old = watcher_, old_waker = waker_] {
        old->stop();
        old_waker->stop();
      });
    }
    watcher_ = watcher;
    waker_ = waker;
    watcher_strand_ = strand;
  }
  router_->guestUp(std::move(netns), waker, std::move(dial));
  boost::asio::post(strand, [watcher] { watcher->start(); });
}

void DomainsFront::guestDown(const std::string& why, bool for_now) {
  std::shared_ptr<fwd::EventWatcher> watcher;
  std::shared_ptr<fwd::WakeController> waker;
  boost::asio::any_io_executor strand;
  {
    std::lock_guard lock(mutex_);
    watcher = std::move(watcher_);
    waker = std::move(waker_);
    strand = watcher_strand_;
  }
  router_->guestDown(why, for_now);  // first: no new wake starts on a stopped waker
  if (watcher) {
    boost::asio::post(strand, [watcher, waker] {
      watcher->stop();
      if (waker) waker->stop();
    });
  }
}

nlohmann::json DomainsFront::status() const {
  nlohmann::json out = router_->status();
  out["enabled"] = true;
  out["port"] = port();
  bool held = false;
  {
    std::lock_guard lock(mutex_);
    held = static_cast<bool>(shared_);
    out["sharedPort"] = options_.shared_port;
    out["sharedPortState"] = held ? std::string("held") : shared_error_;
  }
  const std::string host = DomainName::hostFor("<container>", options_.profile);
  out["url"] = "http://" + host +
               (held && options_.shared_port == 80
                    ? std::string()
                    : ":" + std::to_string(held ? options_.shared_port : port())) +
               "/";
  return out;
}

}  // namespace berth::server
