#pragma once
// DomainRouter: where a request for a Host goes (README, "Containers by name"). A name of this
// profile goes to its container's address and HTTP port inside the guest (connections made in
// the guest's network namespace: container addresses are not routed from the host); a name of
// another profile goes to that profile's own front on host loopback (so whichever profile holds
// port 80 serves every profile's names); anything else gets a page saying why. Holds the
// current NameTable and the guest's state. Thread-safe: the table is swapped under a mutex and
// route() may be called from any connection's strand.
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "server/domains/NameTable.h"

namespace berth::fwd {
class GuestNetns;
class WakeController;
}  // namespace berth::fwd

namespace berth::server {

class DomainRouter {
 public:
  // Another profile's front port on 127.0.0.1, 0 when it has none.
  using ProfilePort = std::function<std::uint16_t(const std::string& profile)>;

  struct Route {
    std::string reply;  // a whole HTTP response (an error page) to answer with; "" = relay
    boost::asio::ip::tcp::endpoint target;
    std::shared_ptr<const fwd::GuestNetns> netns;  // connect from here when set
    std::string describe;  // for logs and the 502 page: "web (172.17.0.2:80)"
    bool other_profile = false;
    // A stopped berth.wake=true container: wake it with `waker`, then route again.
    std::shared_ptr<fwd::WakeController> waker;
    std::string wake_container;  // its ID
    std::string wake_name;
    std::chrono::milliseconds wake_timeout{0};
  };

  DomainRouter(std::string profile, ProfilePort profile_port);

  // The guest is up: containers are reached from `netns` (null: from the host's namespace);
  // `waker` (may be null) starts stopped berth.wake=true containers.
  void guestUp(std::shared_ptr<const fwd::GuestNetns> netns,
               std::shared_ptr<fwd::WakeController> waker = nullptr);
  // The guest stopped (or is not up yet): this profile's names get a 503 page saying `why`.
  void guestDown(std::string why);
  // The running containers, as the engine lists them (EventWatcher::Callbacks::on_containers),
  // and the berth.wake ones, stopped too (NameTable::fromList).
  void setContainers(const nlohmann::json& containers,
                     const nlohmann::json& sleepers = nlohmann::json::array());

  Route route(const std::string& host) const;
  const std::string& profile() const { return profile_; }
  // {"names": [...], "guest": "up" | why}
  nlohmann::json status() const;

 private:
  const std::string profile_;
  const ProfilePort profile_port_;
  mutable std::mutex mutex_;  // guards the members below
  std::shared_ptr<const NameTable> table_ = std::make_shared<NameTable>();
  std::shared_ptr<const fwd::GuestNetns> netns_;
  std::shared_ptr<fwd::WakeController> waker_;
  bool up_ = false;
  std::string down_reason_ = "not started yet";
};

}  // namespace berth::server
