#include "forwarding/Forwarder.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <mutex>
#include <set>
#include <stdexcept>

#include "forwarding/EventWatcher.h"
#include "forwarding/GuestNetns.h"
#include "forwarding/KernelPath.h"
#include "forwarding/PortTable.h"
#include "forwarding/TcpForward.h"
#include "forwarding/UdpForward.h"
#include "server/net/Log.h"

namespace berth::fwd {
namespace {

bool hostHasIpv6Loopback(boost::asio::any_io_executor executor) {
  boost::asio::ip::tcp::acceptor probe(executor);
  net::ErrorCode ec;
  probe.open(boost::asio::ip::tcp::v6(), ec);
  if (!ec) probe.bind({boost::asio::ip::address_v6::loopback(), 0}, ec);
  return !ec;
}

// Forwards the kernel can carry: TCP reached at 127.0.0.1 (bound there, or on every address).
bool natEligible(const ForwardSpec& spec) {
  return spec.proto == "tcp" && spec.guest_loopback.empty() &&
         (spec.bind_ip == "127.0.0.1" || spec.bind_ip == "0.0.0.0");
}

nlohmann::json specJson(const ForwardSpec& spec) {
  return {{"proto", spec.proto},
          {"host", spec.hostAddress()},
          {"container", spec.container_name},
          {"containerId", spec.container_id},
          {"guestPort", spec.guest_port},
          {"guestLoopback", !spec.guest_loopback.empty()},
          {"containerPort", spec.container_port}};
}

}  // namespace

BindMode parseBindMode(const std::string& text) {
  if (text == "loopback") return BindMode::Loopback;
  if (text == "mirror") return BindMode::Mirror;
  throw std::invalid_argument("forwarding bind must be 'loopback' or 'mirror', not '" + text + "'");
}

class Forwarder::Impl : public ListenerFactory, public std::enable_shared_from_this<Impl> {
 public:
  explicit Impl(boost::asio::any_io_executor io)
      : io_(io), strand_(boost::asio::make_strand(io)), table_(*this) {
    snapshot_ = {{"engine", "stopped"},
                 {"forwards", nlohmann::json::array()},
                 {"conflicts", nlohmann::json::array()}};
  }

  void start(net::ConnectorPtr engine, boost::asio::ip::address guest, ForwarderOptions options) {
    stopWatcher();
    guest_ = guest;
    options_ = options;
    plan_.bind = options.bind;
    plan_.udp = options.udp;
    plan_.ipv6 = hostHasIpv6Loopback(io_);
    engine_state_ = "connecting";
    openGuestNetns();
    openNat();
    std::weak_ptr<Impl> weak = shared_from_this();
    if (options_.listeners) {
      options_.listeners->setFailureHandler(
          [weak, strand = strand_](const ForwardSpec& spec, const std::string& error) {
            boost::asio::post(strand, [weak, spec, error] {
              if (auto self = weak.lock()) {
                if (self->table_.fail(spec, error)) self->publish();
              }
            });
          });
    }
    EventWatcher::Callbacks callbacks;
    callbacks.on_ports = [weak](std::vector<api::PublishedPort> ports) {
      if (auto self = weak.lock()) self->reconcile(ports);
    };
    callbacks.on_container_gone = [weak](const std::string& id) {
      if (auto self = weak.lock()) {
        self->draining_.erase(id);
        if (self->table_.closeContainer(id) > 0) self->publish();
      }
    };
    // Between a container's death and the map update that follows its `die`, a connection the
    // kernel DNATs would go to a dead address and hang until its SYN is retried; from the
    // `kill` on, its ports go through the listeners, which refuse or end them at `die`.
    callbacks.on_container_stopping = [weak](const std::string& id) {
      if (auto self = weak.lock()) {
        if (self->draining_.insert(id).second) self->publish();
      }
    };
    callbacks.on_container_started = [weak](const std::string& id) {
      if (auto self = weak.lock()) {
        if (self->draining_.erase(id) > 0) self->publish();
      }
    };
    callbacks.on_engine_lost = [weak](const std::string& reason) {
      if (auto self = weak.lock()) {
        BERTH_LOG(Warn, "forwarding",
                  "engine unreachable (" << reason << "): closing every forward");
        self->engine_state_ = "unreachable";
        self->table_.closeAll();
        self->draining_.clear();
        self->publish();
      }
    };
    callbacks.on_connection = [weak](bool connected) {
      if (auto self = weak.lock()) {
        if (connected)
          self->engine_state_ = "connected";
        else if (self->engine_state_ == "connected")
          self->engine_state_ = "connecting";
        self->publish();
      }
    };
    watcher_ = std::make_shared<EventWatcher>(std::move(engine), strand_, std::move(callbacks));
    watcher_->start();
    publish();
  }

  void stop() {
    stopWatcher();
    table_.closeAll();
    draining_.clear();
    engine_state_ = "stopped";
    if (kernel_) kernel_->close();
    publish();
  }

  std::unique_ptr<Listener> open(const ForwardSpec& spec, std::string& error) override {
    if (!spec.guest_loopback.empty() && !guest_netns_) {
      error = "published on the guest's loopback only (" + spec.guest_loopback +
              "), which this driver cannot reach from the host; publish it on 0.0.0.0";
      return nullptr;
    }
    if (options_.listeners) return options_.listeners->open(spec, error);
    net::ErrorCode ec;
    auto bind_ip = boost::asio::ip::make_address(spec.bind_ip, ec);
    if (ec) {
      error = "not an IP address: " + spec.bind_ip;
      return nullptr;
    }
    // A port on the guest's loopback is reached from inside the guest's namespace.
    auto target = guest_;
    std::shared_ptr<const GuestNetns> netns;
    if (!spec.guest_loopback.empty()) {
      target = boost::asio::ip::make_address(spec.guest_loopback, ec);
      if (ec) {
        error = "not an IP address: " + spec.guest_loopback;
        return nullptr;
      }
      netns = guest_netns_;
    }
    if (spec.proto == "udp") {
      return UdpForward::open(strand_, {bind_ip, spec.host_port}, {target, spec.guest_port},
                              std::move(netns), error);
    }
    return TcpForward::open(strand_, io_, {bind_ip, spec.host_port}, {target, spec.guest_port},
                            std::move(netns), error);
  }

  boost::asio::any_io_executor strand() const { return strand_; }

  nlohmann::json snapshot() const {
    std::lock_guard lock(mutex_);
    return snapshot_;
  }
  void setOnChange(std::function<void(const nlohmann::json&)> callback) {
    on_change_ = std::move(callback);
  }

 private:
  void stopWatcher() {
    if (watcher_) watcher_->stop();
    watcher_.reset();
  }

  void reconcile(const std::vector<api::PublishedPort>& ports) {
    auto change = table_.reconcile(planForwards(ports, plan_));
    if (change.opened || change.closed || change.conflicts || !published_once_) publish();
  }

  void openGuestNetns() {
    guest_netns_.reset();
    if (options_.guest_netns.empty() || options_.listeners) return;
    std::string error;
    guest_netns_ = GuestNetns::open(options_.guest_netns, error);
    if (!guest_netns_)
      BERTH_LOG(Warn, "forwarding", "ports on the guest's loopback cannot be forwarded: " << error);
  }

  // The kernel path, when the options ask for it (KernelPath opens it off this strand); else
  // every connection is relayed.
  void openNat() {
    if (!kernel_) {
      std::weak_ptr<Impl> weak = shared_from_this();
      kernel_ = KernelPath::create(strand_, [weak] {
        if (auto self = weak.lock()) self->publish();
      });
    }
    if (options_.listeners) return kernel_->close("the driver opens host ports itself");
    if (options_.nat.empty()) return kernel_->close();
    if (!guest_.is_v4()) return kernel_->close("the guest address is not IPv4");
    kernel_->open(options_.nat, guest_.to_v4());
  }

  void publish() {
    published_once_ = true;
    const auto active = table_.active();
    // The kernel carries the listeners it can; a conflict's port belongs to whoever holds it.
    LoopbackNat::PortMap wanted;
    for (const auto& spec : active) {
      if (natEligible(spec) && !draining_.count(spec.container_id))
        wanted.emplace(spec.host_port, spec.guest_port);
    }
    static const LoopbackNat::PortMap kNone;
    if (kernel_) kernel_->want(std::move(wanted));
    const auto& mapped = kernel_ ? kernel_->mapped() : kNone;
    nlohmann::json forwards = nlohmann::json::array();
    for (const auto& spec : active) {
      auto entry = specJson(spec);
      auto in_kernel = mapped.find(spec.host_port);
      entry["path"] =
          natEligible(spec) && in_kernel != mapped.end() && in_kernel->second == spec.guest_port
              ? "kernel"
              : "relay";
      forwards.push_back(std::move(entry));
    }
    nlohmann::json conflicts = nlohmann::json::array();
    for (const auto& conflict : table_.conflicts()) {
      auto entry = specJson(conflict.spec);
      entry["error"] = conflict.error;
      conflicts.push_back(std::move(entry));
    }
    nlohmann::json status = {
        {"engine", engine_state_},
        {"guest", guest_.is_unspecified() ? std::string() : guest_.to_string()},
        {"bind", options_.bind == BindMode::Mirror ? "mirror" : "loopback"},
        {"udp", options_.udp},
        {"nat", kernel_ ? kernel_->state() : std::string("off")},
        {"forwards", std::move(forwards)},
        {"conflicts", std::move(conflicts)}};
    {
      std::lock_guard lock(mutex_);
      snapshot_ = status;
    }
    if (on_change_) on_change_(status);
  }

  boost::asio::any_io_executor io_;
  boost::asio::any_io_executor strand_;
  PortTable table_;
  std::shared_ptr<EventWatcher> watcher_;
  boost::asio::ip::address guest_;
  ForwarderOptions options_;
  PlanOptions plan_;
  std::shared_ptr<const GuestNetns> guest_netns_;
  std::shared_ptr<KernelPath> kernel_;  // made by the first start(): it owns a thread
  std::set<std::string> draining_;      // containers sent TERM/KILL: no kernel path
  std::string engine_state_ = "stopped";
  bool published_once_ = false;
  std::function<void(const nlohmann::json&)> on_change_;
  mutable std::mutex mutex_;
  nlohmann::json snapshot_;
};

Forwarder::Forwarder(boost::asio::any_io_executor io) : impl_(std::make_shared<Impl>(io)) {}

// Synchronous on purpose: the listeners may call into a driver that dies right after.
Forwarder::~Forwarder() { impl_->stop(); }

boost::asio::ip::address Forwarder::checkGuestAddress(const std::string& guest_address,
                                                      bool driver_opens_ports) {
  net::ErrorCode ec;
  boost::asio::ip::address guest;
  if (!guest_address.empty() || !driver_opens_ports)
    guest = boost::asio::ip::make_address(guest_address, ec);
  if (ec) throw std::invalid_argument("guest address '" + guest_address + "' is not an IP address");
  if (!driver_opens_ports && guest.is_loopback()) {
    // A relay from 127.0.0.1:P to 127.0.0.1:P would connect to itself.
    throw std::invalid_argument("guest address " + guest_address +
                                " is loopback: forwards would connect to themselves");
  }
  return guest;
}

void Forwarder::start(net::ConnectorPtr engine, const std::string& guest_address,
                      ForwarderOptions options) {
  const auto guest = checkGuestAddress(guest_address, options.listeners != nullptr);
  boost::asio::dispatch(impl_->strand(),
                        [impl = impl_, engine = std::move(engine), guest, options]() mutable {
                          impl->start(std::move(engine), guest, options);
                        });
}

void Forwarder::stop() {
  boost::asio::dispatch(impl_->strand(), [impl = impl_] { impl->stop(); });
}

nlohmann::json Forwarder::status() const { return impl_->snapshot(); }

void Forwarder::onChange(std::function<void(const nlohmann::json&)> callback) {
  boost::asio::dispatch(impl_->strand(), [impl = impl_, callback = std::move(callback)]() mutable {
    impl->setOnChange(std::move(callback));
  });
}

}  // namespace berth::fwd
