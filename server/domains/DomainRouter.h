#pragma once
// DomainRouter: where a request for a Host goes (README, "Containers by name"). A name of this
// profile goes to its container's address and HTTP port inside the guest (connections made in
// the guest's network namespace, or, for a VM, through the driver's dialer: container addresses
// are not routed from the host); a name of
// another profile goes to that profile's own front on host loopback (so whichever profile holds
// port 80 serves every profile's names); anything else gets a page saying why. Holds the
// current NameTable and the guest's state. A guest stopped for now (idle stop) is booted by the
// first request for one of its names (routeWhenReady), which then waits for the engine's first
// list of containers. Thread-safe: the table is swapped under a mutex and route() may be called
// from any connection's strand.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "server/domains/NameTable.h"
#include "server/net/Connector.h"

namespace berth::fwd {
class GuestNetns;
class WakeController;
}  // namespace berth::fwd

namespace berth::server {

class DomainRouter : public std::enable_shared_from_this<DomainRouter> {
 public:
  // Another profile's front port on 127.0.0.1, 0 when it has none.
  using ProfilePort = std::function<std::uint16_t(const std::string& profile)>;
  // Boots this profile's guest (the daemon's boot gate) and calls back once: "" when it is up
  // (guestUp() has run), else why not. May call back on any thread.
  using Boot = std::function<void(std::function<void(const std::string& error)>)>;
  // A connector to a guest address (vm::GuestDialer::connector); thread-safe, non-blocking.
  using Dial = std::function<net::ConnectorPtr(const boost::asio::ip::tcp::endpoint& target,
                                               const std::string& description)>;

  struct Route {
    std::string reply;  // a whole HTTP response (an error page) to answer with; "" = relay
    boost::asio::ip::tcp::endpoint target;
    std::shared_ptr<const fwd::GuestNetns> netns;  // connect from here when set
    net::ConnectorPtr connector;                   // else connect through this when set
    std::string describe;   // for logs and the 502 page: "web (172.17.0.2:80)"
    std::string container;  // the ID of this profile's container it reaches, else ""
    bool other_profile = false;
    // A stopped berth.wake=true container: wake it with `waker`, then route again.
    std::shared_ptr<fwd::WakeController> waker;
    std::string wake_container;  // its ID
    std::string wake_name;
    std::chrono::milliseconds wake_timeout{0};
  };

  // `boot` (may be null) boots a guest that is down for now (see guestDown).
  DomainRouter(std::string profile, ProfilePort profile_port, Boot boot = nullptr);

  // The guest is up: containers are reached from `netns`, else through `dial` (both null: from
  // the host's namespace); `waker` (may be null) starts stopped berth.wake=true containers.
  // Until the first complete setContainers(), routeWhenReady() waits.
  void guestUp(std::shared_ptr<const fwd::GuestNetns> netns,
               std::shared_ptr<fwd::WakeController> waker = nullptr, Dial dial = nullptr);
  // The guest stopped (or is not up yet): this profile's names get a 503 page saying `why`,
  // unless `for_now` (idle stop: the next request for a name boots it through `boot`).
  void guestDown(std::string why, bool for_now = false);
  // The running containers, as the engine lists them (EventWatcher::Callbacks::on_containers),
  // and the berth.wake ones, stopped too (NameTable::fromList). `complete`: the berth.wake list
  // is the one for these containers (requests waiting for a list are routed now).
  void setContainers(const nlohmann::json& containers,
                     const nlohmann::json& sleepers = nlohmann::json::array(),
                     bool complete = true);

  Route route(const std::string& host) const;
  // route(), once the answer is known: a name of this profile whose guest is down for now
  // boots it first, and one asked before the engine's first list after a boot waits for that
  // list. `done` runs once, on `executor` (a boot that failed: the 503 page saying why). Call
  // on a router owned by a shared_ptr.
  void routeWhenReady(const std::string& host, boost::asio::any_io_executor executor,
                      std::function<void(Route)> done);
  const std::string& profile() const { return profile_; }
  // {"names": [...], "guest": "up" | why}
  nlohmann::json status() const;

 private:
  struct Waiter {
    boost::asio::any_io_executor executor;
    std::function<void()> ready;
  };
  void routeWhenReady(const std::string& host, boost::asio::any_io_executor executor,
                      std::function<void(Route)> done, bool may_boot);
  // Runs (outside the lock) every request that waited for a list.
  static void release(std::vector<Waiter> waiters);

  const std::string profile_;
  const ProfilePort profile_port_;
  const Boot boot_;
  mutable std::mutex mutex_;  // guards the members below
  std::shared_ptr<const NameTable> table_ = std::make_shared<NameTable>();
  std::shared_ptr<const fwd::GuestNetns> netns_;
  std::shared_ptr<fwd::WakeController> waker_;
  Dial dial_;
  bool up_ = false;
  bool listed_ = false;          // a complete list arrived since guestUp()
  bool for_now_ = false;         // down for now: a request boots it
  std::vector<Waiter> waiters_;  // requests waiting for the first list
  std::string down_reason_ = "not started yet";
};

}  // namespace berth::server
