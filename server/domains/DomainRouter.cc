#include "server/domains/DomainRouter.h"

#include <boost/asio/post.hpp>

#include "forwarding/GuestNetns.h"
#include "server/domains/DomainName.h"
#include "server/domains/DomainPages.h"

namespace berth::server {

DomainRouter::DomainRouter(std::string profile, ProfilePort profile_port, Boot boot)
    : profile_(std::move(profile)),
      profile_port_(std::move(profile_port)),
      boot_(std::move(boot)) {}

void DomainRouter::guestUp(std::shared_ptr<const fwd::GuestNetns> netns,
                           std::shared_ptr<fwd::WakeController> waker, Dial dial) {
  std::lock_guard lock(mutex_);
  netns_ = std::move(netns);
  waker_ = std::move(waker);
  dial_ = std::move(dial);
  up_ = true;
  listed_ = false;
  for_now_ = false;
}

void DomainRouter::guestDown(std::string why, bool for_now) {
  std::vector<Waiter> waiters;
  {
    std::lock_guard lock(mutex_);
    up_ = false;
    listed_ = false;
    for_now_ = for_now;
    waker_.reset();
    dial_ = nullptr;
    down_reason_ = std::move(why);
    table_ = std::make_shared<NameTable>();
    waiters.swap(waiters_);
  }
  release(std::move(waiters));  // they get the page saying why
}

void DomainRouter::setContainers(const nlohmann::json& containers, const nlohmann::json& sleepers,
                                 bool complete) {
  auto table = std::make_shared<const NameTable>(NameTable::fromList(containers, sleepers));
  std::vector<Waiter> waiters;
  {
    std::lock_guard lock(mutex_);
    table_ = std::move(table);
    if (complete && up_) {
      listed_ = true;
      waiters.swap(waiters_);
    }
  }
  release(std::move(waiters));
}

void DomainRouter::release(std::vector<Waiter> waiters) {
  for (auto& waiter : waiters) boost::asio::post(waiter.executor, std::move(waiter.ready));
}

void DomainRouter::routeWhenReady(const std::string& host, boost::asio::any_io_executor executor,
                                  std::function<void(Route)> done) {
  routeWhenReady(host, std::move(executor), std::move(done), true);
}

void DomainRouter::routeWhenReady(const std::string& host, boost::asio::any_io_executor executor,
                                  std::function<void(Route)> done, bool may_boot) {
  const auto name = DomainName::parse(host);
  bool boot = false;
  if (name && name->profile == profile_) {
    std::lock_guard lock(mutex_);
    if (up_ && !listed_) {
      waiters_.push_back({executor, [self = shared_from_this(), host, done = std::move(done)] {
                            done(self->route(host));
                          }});
      return;
    }
    boot = !up_ && for_now_ && boot_ && may_boot;
  }
  if (!boot) {
    boost::asio::post(executor, [route = route(host), done = std::move(done)]() mutable {
      done(std::move(route));
    });
    return;
  }
  boot_([self = shared_from_this(), host, executor,
         done = std::move(done)](const std::string& error) mutable {
    if (error.empty()) return self->routeWhenReady(host, executor, std::move(done), false);
    Route failed;
    failed.reply = DomainPages::guestDown(host, self->profile_, "not booting (" + error + ")");
    boost::asio::post(executor, [failed = std::move(failed), done = std::move(done)]() mutable {
      done(std::move(failed));
    });
  });
}

DomainRouter::Route DomainRouter::route(const std::string& host) const {
  Route out;
  const auto name = DomainName::parse(host);
  if (!name) {
    out.reply = DomainPages::unknownName(host, profile_, {});
    return out;
  }
  if (name->profile != profile_) {
    const std::uint16_t port = profile_port_ ? profile_port_(name->profile) : 0;
    if (port == 0) {
      out.reply = DomainPages::guestDown(host, name->profile,
                                         "not running here (no such profile, "
                                         "or its names are turned off)");
      return out;
    }
    out.target = {boost::asio::ip::address_v4::loopback(), port};
    out.describe = "profile " + name->profile + "'s front (127.0.0.1:" + std::to_string(port) + ")";
    out.other_profile = true;
    return out;
  }
  std::shared_ptr<const NameTable> table;
  std::shared_ptr<fwd::WakeController> waker;
  Dial dial;
  {
    std::lock_guard lock(mutex_);
    if (!up_) {
      out.reply = DomainPages::guestDown(host, profile_, down_reason_);
      return out;
    }
    table = table_;
    out.netns = netns_;
    waker = waker_;
    dial = dial_;
  }
  const NameTable::Lookup found = table->find(name->name);
  switch (found.outcome) {
    case NameTable::Outcome::Found: {
      boost::system::error_code ec;
      const auto address = boost::asio::ip::make_address(found.container->address, ec);
      if (ec) {
        out.reply = DomainPages::unreachable(host, found.container->address, "not an IP address");
        return out;
      }
      out.target = {address, static_cast<std::uint16_t>(found.port)};
      out.describe = found.container->name + " (" + found.container->address + ":" +
                     std::to_string(found.port) + ")";
      out.container = found.container->id;
      if (!out.netns && dial) out.connector = dial(out.target, out.describe);
      return out;
    }
    case NameTable::Outcome::Unknown:
      out.reply = DomainPages::unknownName(host, profile_, table->names());
      return out;
    case NameTable::Outcome::Asleep:
      if (!waker) {
        out.reply = DomainPages::notWoken(host, found.container->name, "nothing can wake it here");
        return out;
      }
      out.waker = std::move(waker);
      out.wake_container = found.container->id;
      out.wake_name = found.container->name;
      out.wake_timeout = found.container->wake_timeout;
      out.describe = found.container->name + " (asleep)";
      return out;
    default:
      out.reply = DomainPages::cannotServe(host, found);
      return out;
  }
}

nlohmann::json DomainRouter::status() const {
  std::lock_guard lock(mutex_);
  return {{"names", table_->names()}, {"guest", up_ ? std::string("up") : down_reason_}};
}

}  // namespace berth::server
