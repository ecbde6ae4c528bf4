#pragma once
// DomainsFront: the profile's HTTP front for containers by name (issue 18, README "Containers by
// name"): plain HTTP on 127.0.0.1, on the profile's own port and, when it can have it, on the
// shared port 80, where it also serves other profiles' names by passing them to their own
// fronts (DomainRouter). Port 80 taken (another profile, another program) is retried every few
// seconds, so it moves to another profile when its holder stops. While the guest is up, an
// EventWatcher keeps the router's NameTable equal to the engine's running containers (and the
// stopped berth.wake=true ones, which a WakeController starts on their first request). open(),
// stop(), guestUp() and guestDown() from any one thread at a time; status() from any thread.
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "server/domains/DomainRouter.h"
#include "server/net/Connector.h"

namespace berth::fwd {
class EventWatcher;
class WakeController;
}  // namespace berth::fwd

namespace berth::server {

class TcpListener;

class DomainsFront {
 public:
  struct Options {
    std::string profile;
    std::uint16_t port = 0;  // the profile's own port; 0: `kept_port` if free, else any free one
    std::uint16_t kept_port = 0;
    std::uint16_t shared_port = 80;  // 0: none (domains.port set: only the profile's own port)
    DomainRouter::ProfilePort profile_port;  // other profiles' own ports
    std::chrono::milliseconds head_timeout{30000};
    std::chrono::milliseconds shared_retry{5000};
    // Boots the guest when a name is asked for while it is down for now (guestDown(.., true)).
    DomainRouter::Boot boot;
    // Taken at every accepted connection and dropped when it ends (or names another profile):
    // the daemon counts it as a client, so the guest's idle stop waits. May be null.
    std::function<std::shared_ptr<void>()> hold_client;
    // Taken while a connection relays to one of this profile's containers (by ID): its
    // berth.idle counts it as a connection (fwd::Forwarder::holdAwake). May be null.
    std::function<std::shared_ptr<void>(const std::string& container)> hold_container;
  };

  DomainsFront(boost::asio::io_context& io, Options options);
  ~DomainsFront();
  // Listens on the profile's own port (throws std::runtime_error with one clear line when it
  // cannot) and tries the shared one.
  void open();
  void stop();
  std::uint16_t port() const;

  // The guest is up: watch `engine`'s containers; reach them from `guest_netns` (a netns file),
  // else through `dial` (a VM's driver dialer); neither: from the host's namespace. The guest
  // stopped: names answer 503 saying `why`, or, stopped `for_now` (idle stop), boot it through
  // options.boot.
  void guestUp(net::ConnectorPtr engine, const std::string& guest_netns,
               DomainRouter::Dial dial = nullptr);
  void guestDown(const std::string& why, bool for_now = false);

  // `berth status --json`'s "domains".
  nlohmann::json status() const;

 private:
  void accept(net::ByteStreamPtr client);
  void tryShared();

  boost::asio::io_context& io_;
  Options options_;
  std::shared_ptr<DomainRouter> router_;
  std::shared_ptr<TcpListener> own_;
  boost::asio::steady_timer shared_timer_;
  mutable std::mutex mutex_;  // guards the members below
  std::shared_ptr<fwd::EventWatcher> watcher_;
  std::shared_ptr<fwd::WakeController> waker_;   // starts berth.wake=true containers by name
  boost::asio::any_io_executor watcher_strand_;  // the watcher's: it runs there only
  std::shared_ptr<TcpListener> shared_;
  std::string shared_error_;  // why the shared port is not ours ("" while held)
  bool stopped_ = false;
};

}  // namespace berth::server
