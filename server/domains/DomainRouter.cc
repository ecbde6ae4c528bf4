#include "server/domains/DomainRouter.h"

#include "forwarding/GuestNetns.h"
#include "server/domains/DomainName.h"
#include "server/domains/DomainPages.h"

namespace berth::server {

DomainRouter::DomainRouter(std::string profile, ProfilePort profile_port)
    : profile_(std::move(profile)), profile_port_(std::move(profile_port)) {}

void DomainRouter::guestUp(std::shared_ptr<const fwd::GuestNetns> netns,
                           std::shared_ptr<fwd::WakeController> waker) {
  std::lock_guard lock(mutex_);
  netns_ = std::move(netns);
  waker_ = std::move(waker);
  up_ = true;
}

void DomainRouter::guestDown(std::string why) {
  std::lock_guard lock(mutex_);
  up_ = false;
  waker_.reset();
  down_reason_ = std::move(why);
  table_ = std::make_shared<NameTable>();
}

void DomainRouter::setContainers(const nlohmann::json& containers, const nlohmann::json& sleepers) {
  auto table = std::make_shared<const NameTable>(NameTable::fromList(containers, sleepers));
  std::lock_guard lock(mutex_);
  table_ = std::move(table);
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
  {
    std::lock_guard lock(mutex_);
    if (!up_) {
      out.reply = DomainPages::guestDown(host, profile_, down_reason_);
      return out;
    }
    table = table_;
    out.netns = netns_;
    waker = waker_;
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
