#include "forwarding/Forwarder.h"

#include <algorithm>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <cctype>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>

#include "api/PublishedPorts.h"
#include "forwarding/EngineClient.h"
#include "forwarding/EventWatcher.h"
#include "forwarding/GuestListeners.h"
#include "forwarding/GuestNetns.h"
#include "forwarding/GuestShellListeners.h"
#include "forwarding/GuestWatchScript.h"
#include "forwarding/IndirectTcpForward.h"
#include "forwarding/KernelPath.h"
#include "forwarding/PortTable.h"
#include "forwarding/StartClaims.h"
#include "forwarding/TcpForward.h"
#include "forwarding/UdpForward.h"
#include "forwarding/WakeController.h"
#include "forwarding/WakeGate.h"
#include "forwarding/WakeLabels.h"
#include "forwarding/WakePortsFilter.h"
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
          {"containerPort", spec.container_port},
          {"origin", spec.container_id.empty() ? "guest listener" : "container"}};
}

// How long a start's claim holds its ports: while the engine works on the start (it may
// wait on a volume, a slow runtime), and then until the start event's forwards take over.
constexpr std::chrono::seconds kClaimLife{60};
constexpr std::chrono::seconds kClaimAfterStart{5};
constexpr std::chrono::seconds kRetryEvery{1};
constexpr std::chrono::seconds kProxyGrace{3};
constexpr std::chrono::milliseconds kIdleCheckEvery{500};
// Without engine events the guest's listeners are the only source of ports: polled faster, so a
// host-network task's port answers on the host well within a second.
constexpr std::chrono::milliseconds kListenersOnlyPollEvery{250};
constexpr const char* kWakeList = WakeLabels::kListTarget;
// A port in the guest with its protocol ("tcp", "udp"): a CNI hostPort may map one number twice.
using GuestPort = std::pair<std::string, std::uint16_t>;

const char* wakeStateName(WakeGate::State state) {
  switch (state) {
    case WakeGate::State::Asleep:
      return "asleep";
    case WakeGate::State::Waking:
      return "waking";
    case WakeGate::State::Awake:
      return "awake";
  }
  return "awake";
}

// Docker's own words for a host port it cannot bind (libnetwork's bridge driver and
// docker-proxy), so users and scripts recognise the error; berth has no network endpoint
// yet, so the container's ID stands in for the endpoint's.
std::string startRefusal(const ForwardSpec& spec, std::string error) {
  if (!error.empty())
    error[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(error[0])));
  const bool v6 = spec.bind_ip.find(':') != std::string::npos;
  return "driver failed programming external connectivity on endpoint " + spec.container_name +
         " (" + spec.container_id + "): Error starting userland proxy: listen " + spec.proto +
         (v6 ? "6 " : "4 ") + spec.hostAddress() + ": bind: " + error;
}

// Binds `spec`'s host address and lets it go at once: whether a driver's own forward (QEMU's
// hostfwd) could bind it now.
bool probeBind(const ForwardSpec& spec, const boost::asio::any_io_executor& executor,
               std::string& error) {
  net::ErrorCode ec;
  auto ip = boost::asio::ip::make_address(spec.bind_ip, ec);
  if (!ec && spec.proto == "udp") {
    boost::asio::ip::udp::socket socket(executor);
    socket.open(ip.is_v6() ? boost::asio::ip::udp::v6() : boost::asio::ip::udp::v4(), ec);
    if (!ec) socket.bind({ip, spec.host_port}, ec);
  } else if (!ec) {
    boost::asio::ip::tcp::acceptor acceptor(executor);
    acceptor.open(ip.is_v6() ? boost::asio::ip::tcp::v6() : boost::asio::ip::tcp::v4(), ec);
    if (!ec) acceptor.set_option(boost::asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor.bind({ip, spec.host_port}, ec);
  }
  if (ec) error = ec.message();
  return !ec;
}

// The handle a session keeps while its start is in the engine's hands.
class ClaimHandle final : public PortClaim {
 public:
  explicit ClaimHandle(std::function<void(bool started)> settle) : settle_(std::move(settle)) {}
  ~ClaimHandle() override {
    if (settle_) settle_(true);
  }
  void finish(bool started) override {
    if (!settle_) return;
    settle_(started);
    settle_ = nullptr;
  }

 private:
  std::function<void(bool)> settle_;
};

}  // namespace

BindMode parseBindMode(const std::string& text) {
  if (text == "loopback") return BindMode::Loopback;
  if (text == "mirror") return BindMode::Mirror;
  throw std::invalid_argument("forwarding bind must be 'loopback' or 'mirror', not '" + text + "'");
}

class Forwarder::Impl : public ListenerFactory, public std::enable_shared_from_this<Impl> {
  // An IndirectTcpForward listed in indirect_ while it lives (the table owns it).
  class TrackedIndirect final : public Listener {
   public:
    TrackedIndirect(std::weak_ptr<Impl> impl, ForwardSpec outer,
                    std::unique_ptr<IndirectTcpForward> forward)
        : impl_(std::move(impl)),
          via_(forward->driverSpec().host_port),
          forward_(std::move(forward)) {
      if (auto self = impl_.lock()) self->indirect_[via_] = {std::move(outer), forward_.get()};
    }
    ~TrackedIndirect() override {
      if (auto self = impl_.lock()) self->indirect_.erase(via_);
    }

   private:
    std::weak_ptr<Impl> impl_;
    std::uint16_t via_;
    std::unique_ptr<IndirectTcpForward> forward_;
  };

 public:
  explicit Impl(boost::asio::any_io_executor io)
      : io_(io),
        strand_(boost::asio::make_strand(io)),
        table_(*this),
        claims_(strand_),
        retry_(strand_),
        idle_timer_(strand_) {
    snapshot_ = {{"engine", "stopped"},
                 {"forwards", nlohmann::json::array()},
                 {"conflicts", nlohmann::json::array()},
                 {"refused", nlohmann::json::array()}};
  }

  void start(net::ConnectorPtr engine, boost::asio::ip::address guest, ForwarderOptions options) {
    stopWatcher();
    guest_ = std::move(guest);
    options_ = std::move(options);
    plan_.bind = options_.bind;
    plan_.udp = options_.udp;
    // A driver that opens IPv4 host addresses only (QEMU's hostfwd) gets no IPv6 forward to fail.
    plan_.ipv6 =
        hostHasIpv6Loopback(io_) && (!options_.listeners || options_.listeners->opensIpv6());
    engine_state_ = "connecting";
    listed_ = false;
    if (options_.docker_api)
      client_.emplace(engine, strand_);
    else
      client_.reset();
    engine_ = engine;
    guest_up_ = true;
    // Kept across a guest's sleep(): the ports it holds and a wake that booted the guest.
    if (!waker_) waker_ = WakeController::create(strand_, engineSource());
    for (auto& [id, sleeper] : sleepers_) sleeper.state_known = false;
    openGuestNetns();
    watchGuestListeners();
    openNat();
    // Wake ports kept through a guest's sleep(): their driver forwards went with the guest.
    if (options_.listeners) {
      for (auto& [via, entry] : indirect_) {
        const auto error = entry.forward->reopenDriverForward(*options_.listeners);
        if (!error.empty())
          BERTH_LOG(Warn, "wake", "forward of " << entry.outer.hostAddress() << ": " << error);
      }
    }
    if (!options_.docker_api) {
      // Nothing to list or watch: no container publishes a port.
      engine_state_ = "no Docker API";
      listed_ = true;
      return publish();
    }
    std::weak_ptr<Impl> weak = shared_from_this();
    if (options_.listeners) {
      options_.listeners->setFailureHandler(
          [weak, strand = strand_](const ForwardSpec& spec, const std::string& error) {
            boost::asio::post(strand, [weak, spec, error] {
              if (auto self = weak.lock()) {
                if (self->table_.fail(self->outerSpec(spec), error)) {
                  self->publish();
                  self->retryConflicts();
                }
              }
            });
          });
    }
    EventWatcher::Callbacks callbacks;
    callbacks.on_ports = [weak](const std::vector<api::PublishedPort>& ports) {
      if (auto self = weak.lock()) self->reconcile(ports);
    };
    callbacks.on_container_gone = [weak](const std::string& id) {
      if (auto self = weak.lock()) {
        self->draining_.erase(id);
        if (auto gate = self->gateFor(id)) gate->setRunning(false);  // its ports stay held
        // Not retried or reopened before the next list says otherwise.
        self->setContainerSpecs([&] {
          auto specs = self->container_specs_;
          std::erase_if(specs, [&](const ForwardSpec& spec) { return spec.container_id == id; });
          return specs;
        }());
        if (!self->gateFor(id) && self->table_.closeContainer(id) > 0) self->publish();
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
        if (auto gate = self->gateFor(id)) gate->setRunning(true);
        if (self->draining_.erase(id) > 0) self->publish();
      }
    };
    callbacks.on_engine_lost = [weak](const std::string& reason) {
      if (auto self = weak.lock()) {
        BERTH_LOG(Warn, "forwarding",
                  "engine unreachable (" << reason << "): closing every forward");
        self->engine_state_ = "unreachable";
        self->setContainerSpecs({});
        self->listed_ = false;
        self->sleepers_.clear();
        self->table_.closeAll();
        self->refused_.clear();
        self->draining_.clear();
        self->publish();
      }
    };
    callbacks.on_connection = [weak](bool connected) {
      if (auto self = weak.lock()) {
        // Events may have been missed meanwhile: the next list says who runs.
        for (auto& [id, sleeper] : self->sleepers_) sleeper.state_known = false;
        if (connected)
          self->engine_state_ = "connected";
        else if (self->engine_state_ == "connected")
          self->engine_state_ = "connecting";
        self->publish();
      }
    };
    watcher_ = std::make_shared<EventWatcher>(std::move(engine), strand_, std::move(callbacks));
    watcher_->start();
    scheduleIdleCheck();
    publish();
  }

  void stop() {
    forgetEngine();
    if (waker_) waker_->stop();
    waker_.reset();
    sleepers_.clear();
    table_.closeAll();
    refused_.clear();
    if (kernel_) kernel_->close();
    publish();
  }

  void sleep() {
    if (!options_.boot) return stop();
    forgetEngine();
    // The guest's stop stopped every container: what holds ports now are the wake containers'.
    std::erase_if(sleepers_, [](const auto& entry) { return !entry.second.gate; });
    for (auto& [id, sleeper] : sleepers_) sleeper.gate->setRunning(false);
    table_.reconcile(forwardable());
    // The driver's forwards end with the guest (qemu): the wake ports' own listeners stay.
    for (auto& [via, entry] : indirect_) entry.forward->dropDriverForward();
    if (kernel_) kernel_->close();
    BERTH_LOG(
        Info, "wake",
        "guest stopping: " << table_.active().size() << " wake port(s) stay open and boot it");
    publish();
  }

  // What a stop and a sleep both forget: the engine, its watcher and the guest's listeners, the
  // containers seen, pending claims and timers. The host listeners are the caller's to keep.
  void forgetEngine() {
    guest_up_ = false;
    engine_.reset();
    stopWatcher();
    if (guest_listeners_) guest_listeners_->stop();
    guest_listeners_.reset();
    guest_specs_.clear();
    client_.reset();
    container_specs_.clear();
    listed_ = false;
    unpublished_at_.clear();
    claims_.clear();
    retry_.cancel();
    idle_timer_.cancel();
    draining_.clear();
    engine_state_ = "stopped";
  }

  // The engine a wake calls: this one while the guest is up, else the one a boot brings.
  WakeController::EngineSource engineSource() {
    return [weak = weak_from_this(), strand = strand_](const auto& give) {
      boost::asio::post(strand, [weak, give] {
        auto self = weak.lock();
        if (!self) return give("forwarding stopped", nullptr);
        if (self->guest_up_ && self->engine_) return give("", self->engine_);
        if (!self->options_.boot) return give("the engine is not connected", nullptr);
        BERTH_LOG(Info, "wake", "booting the guest for a wake");
        self->options_.boot(give);
      });
    };
  }

  std::unique_ptr<Listener> open(const ForwardSpec& spec, std::string& error) override {
    if (auto claimed = claims_.take(spec)) return claimed;
    return openListener(spec, error);
  }

  void claimForStart(const std::string& container, std::function<void(StartClaim)> done) {
    if (!client_ || engine_state_ != "connected") return done({});
    std::weak_ptr<Impl> weak = shared_from_this();
    client_->get("/containers/" + container + "/json", [weak, done = std::move(done)](
                                                           const std::string& error, int status,
                                                           const std::string& body) {
      auto self = weak.lock();
      if (!self || !error.empty() || status != 200) return done({});
      auto inspect = nlohmann::json::parse(body, nullptr, false);
      if (!inspect.is_object()) return done({});
      auto state = inspect.find("State");
      if (state != inspect.end() && state->is_object() && state->value("Running", false))
        return done({});  // the engine answers 304

      done(self->claim(api::requestedPortsFromInspect(inspect)));
    });
  }

  // "" when `spec` may open, else why it never can (listed once in the status, not retried); the
  // table's factory (this) and the forwarder itself ask the same question.
  std::string refusal(const ForwardSpec& spec) const override {
    if (options_.listeners) return options_.listeners->refusal(spec);
    if (!spec.guest_loopback.empty() && !guest_netns_)
      return "published on the guest's loopback only (" + spec.guest_loopback +
             "), which this driver cannot reach from the host; publish it on 0.0.0.0";
    return "";
  }

  std::unique_ptr<Listener> openListener(const ForwardSpec& spec, std::string& error) {
    error = refusal(spec);
    if (!error.empty()) return nullptr;
    auto gate = gateFor(spec.container_id);
    // A wake port published on the guest's loopback keeps the plain path: the indirect hostfwd
    // reaches the guest address only, not the loopback redirect.
    if (options_.listeners && gate && spec.proto == "tcp" && spec.guest_loopback.empty())
      return openIndirect(spec, gate, error);
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
                              std::move(netns), std::move(gate), spec.container_port, error);
    }
    return TcpForward::open(strand_, io_, {bind_ip, spec.host_port}, {target, spec.guest_port},
                            std::move(netns), std::move(gate), error);
  }

  // A wake container's TCP port where the driver opens ports itself (qemu): berth holds the
  // host port and relays through a driver forward on a free loopback port (IndirectTcpForward).
  std::unique_ptr<Listener> openIndirect(const ForwardSpec& spec, std::shared_ptr<WakeGate> gate,
                                         std::string& error) {
    const std::uint16_t via = WakePortsFilter::pickLoopbackPort("tcp");
    if (via == 0) {
      error = "no free loopback port for the driver's forward";
      return nullptr;
    }
    auto forward = IndirectTcpForward::open(strand_, io_, spec, via, *options_.listeners,
                                            std::move(gate), error);
    if (!forward) return nullptr;
    return std::make_unique<TrackedIndirect>(weak_from_this(), spec, std::move(forward));
  }

  // The forward a driver's failure names: an indirect forward's own spec for its driver forward.
  ForwardSpec outerSpec(const ForwardSpec& spec) const {
    auto it = indirect_.find(spec.host_port);
    if (it != indirect_.end() && it->second.forward->driverSpec() == spec) return it->second.outer;
    return spec;
  }

  boost::asio::any_io_executor strand() const { return strand_; }

  // Forwarder::holdAwake's hold: its container's gate is found and opened on the strand; it
  // closes when the last owner drops it (the caller, or the open if that comes later).
  // WakeGate is thread-safe, and the open happens before the close (shared ownership).
  struct AwakeHold {
    ~AwakeHold() {
      if (gate) gate->closed();
    }
    std::shared_ptr<WakeGate> gate;
  };
  void openHold(const std::shared_ptr<AwakeHold>& hold, const std::string& container) {
    hold->gate = gateFor(container);
    if (hold->gate) hold->gate->opened();
  }

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
    setContainerSpecs(planForwards(ports, plan_));
    listed_ = true;
    applyWanted();
    listSleepers();
  }

  // A `berth.wake=true` container's gate (null for any other container).
  std::shared_ptr<WakeGate> gateFor(const std::string& container_id) const {
    auto it = sleepers_.find(container_id);
    return it == sleepers_.end() ? nullptr : it->second.gate;
  }

  // The containers labelled berth.wake, stopped ones included, after every list of running
  // ones: a new one's labels are read (problems logged once), and its fixed host ports come
  // from an inspect (HostConfig.PortBindings), to be held while it sleeps.
  void listSleepers() {
    if (!client_) return;
    if (listing_sleepers_) {
      sleepers_dirty_ = true;
      return;
    }
    listing_sleepers_ = true;
    sleepers_dirty_ = false;
    std::weak_ptr<Impl> weak = shared_from_this();
    client_->get(kWakeList, [weak](const std::string& error, int status, const std::string& body) {
      auto self = weak.lock();
      if (!self) return;
      self->listing_sleepers_ = false;
      if (self->sleepers_dirty_) return self->listSleepers();
      auto list = nlohmann::json::parse(body, nullptr, false);
      if (!error.empty() || status != 200 || !list.is_array()) {
        BERTH_LOG(Warn, "wake",
                  "listing wake containers failed: "
                      << (error.empty() ? "status " + std::to_string(status) : error));
        return;
      }
      self->onSleepers(list);
    });
  }

  void onSleepers(const nlohmann::json& list) {
    std::set<std::string> listed;
    bool changed = false;
    bool problem_gone = false;
    for (const auto& entry : list) {
      if (!entry.is_object()) continue;
      const std::string id = entry.value("Id", std::string());
      if (id.empty()) continue;
      listed.insert(id);
      std::string name = id.substr(0, 12);
      auto names = entry.find("Names");
      if (names != entry.end() && names->is_array() && !names->empty() &&
          names->front().is_string()) {
        name = names->front().get<std::string>();
        if (!name.empty() && name[0] == '/') name.erase(0, 1);
      }
      const bool running = entry.value("State", std::string()) == "running";
      auto it = sleepers_.find(id);
      if (it == sleepers_.end()) {
        auto labels =
            WakeLabels::parse(entry.contains("Labels") ? entry["Labels"] : nlohmann::json());
        for (const auto& problem : labels.problems)
          BERTH_LOG(Warn, "wake", "container " << name << ": label " << problem);
        Sleeper sleeper;
        if (labels.wake) {
          std::weak_ptr<Impl> weak = shared_from_this();
          sleeper.gate =
              std::make_shared<WakeGate>(id, name, labels, waker_, [weak, strand = strand_] {
                boost::asio::post(strand, [weak] {
                  if (auto self = weak.lock()) self->publish();
                });
              });
          sleeper.gate->setRunning(running);
          sleeper.state_known = true;
        }
        it = sleepers_.emplace(id, std::move(sleeper)).first;
        if (it->second.gate) inspectSleeper(id);
        continue;
      }
      if (it->second.gate && !it->second.state_known) {
        it->second.gate->setRunning(running);
        it->second.state_known = true;
      }
    }
    for (auto it = sleepers_.begin(); it != sleepers_.end();) {
      if (listed.count(it->first)) {
        ++it;
        continue;
      }
      changed = changed || !it->second.specs.empty();
      problem_gone = problem_gone || !it->second.problem.empty();
      it = sleepers_.erase(it);  // removed (or relabelled): its held ports close
    }
    if (changed) applyWanted();
    if (problem_gone) publish();
  }

  void inspectSleeper(const std::string& id) {
    std::weak_ptr<Impl> weak = shared_from_this();
    client_->get("/containers/" + id + "/json", [weak, id](const std::string& error, int status,
                                                           const std::string& body) {
      auto self = weak.lock();
      if (!self) return;
      auto it = self->sleepers_.find(id);
      if (it == self->sleepers_.end() || !it->second.gate) return;
      auto inspect = nlohmann::json::parse(body, nullptr, false);
      if (!error.empty() || status != 200 || !inspect.is_object()) {
        BERTH_LOG(Warn, "wake",
                  "inspecting " << it->second.gate->name() << " failed: "
                                << (error.empty() ? "status " + std::to_string(status) : error));
        return;
      }
      it->second.specs = planForwards(api::requestedPortsFromInspect(inspect), self->plan_);
      const auto& gate = *it->second.gate;
      // The driver's forwards carry UDP (qemu): berth sees no datagram to wake for.
      if (self->options_.listeners &&
          std::erase_if(it->second.specs, [](const ForwardSpec& s) { return s.proto == "udp"; }))
        BERTH_LOG(Warn, "wake",
                  "container " << gate.name()
                               << ": its UDP ports do not wake it (the driver forwards them "
                                  "itself); they are forwarded while it runs");
      it->second.problem.clear();
      if (it->second.specs.empty()) {
        it->second.problem = noFixedPort(inspect);
        BERTH_LOG(Warn, "wake", "container " << gate.name() << ": " << it->second.problem);
        self->publish();
      } else {
        BERTH_LOG(Info, "wake",
                  "container " << gate.name() << " wakes on connect (timeout "
                               << gate.labels().timeout.count() << " ms, idle stop "
                               << (gate.labels().idle.count() == 0
                                       ? std::string("never")
                                       : std::to_string(gate.labels().idle.count()) + " ms")
                               << ")");
      }
      // Listeners opened before the container was known to wake have no gate: reopen them.
      self->table_.closeContainer(id);
      self->applyWanted();
    });
  }

  // berth.idle: a running wake container with no connection for its idle time is stopped
  // (its own stop timeout); its ports stay held for the next wake.
  void scheduleIdleCheck() {
    idle_timer_.expires_after(kIdleCheckEvery);
    idle_timer_.async_wait([weak = weak_from_this()](net::ErrorCode ec) {
      auto self = weak.lock();
      if (ec || !self || !self->waker_) return;
      const auto now = WakeGate::Clock::now();
      for (auto& [id, sleeper] : self->sleepers_) {
        if (!sleeper.gate || !sleeper.gate->idleExpired(now)) continue;
        const std::string name = sleeper.gate->name();
        BERTH_LOG(Info, "wake",
                  "container " << name << ": no connection for "
                               << sleeper.gate->labels().idle.count()
                               << " ms (berth.idle): stopping it");
        self->waker_->stopContainer(id, [name](const std::string& error) {
          if (!error.empty())
            BERTH_LOG(Warn, "wake", "idle stop of " << name << " failed: " << error);
        });
      }
      self->scheduleIdleCheck();
    });
  }

  // The engine's docker-proxy keeps listening in the guest for a moment after its container
  // died: a port no longer published is not taken for a guest listener for kProxyGrace.
  void setContainerSpecs(std::vector<ForwardSpec> specs) {
    const auto now = std::chrono::steady_clock::now();
    std::erase_if(unpublished_at_,
                  [&](const auto& entry) { return now - entry.second > kProxyGrace; });
    std::set<std::uint16_t> still;
    for (const auto& spec : specs) still.insert(spec.guest_port);
    for (const auto& spec : container_specs_) {
      if (!still.count(spec.guest_port)) unpublished_at_[spec.guest_port] = now;
    }
    container_specs_ = std::move(specs);
  }

  void applyWanted() {
    auto change = table_.reconcile(forwardable());
    if (change.opened || change.closed || change.conflicts || refused_changed_ || !published_once_)
      publish();
    retryConflicts();
  }

  // A port another program holds opens once it is free (a race after a start, a port taken
  // while berth was down): every conflict is tried again each second while there are any.
  void retryConflicts() {
    if (retry_armed_ || table_.conflicts().empty() || !guest_up_) return;
    retry_armed_ = true;
    retry_.expires_after(kRetryEvery);
    retry_.async_wait([weak = weak_from_this()](net::ErrorCode ec) {
      auto self = weak.lock();
      if (!self) return;
      self->retry_armed_ = false;
      if (!ec && self->guest_up_) self->applyWanted();
    });
  }

  // Binds the host side of every fixed port of a container about to start (claimForStart).
  StartClaim claim(const std::vector<api::PublishedPort>& ports) {
    StartClaims::Claimed held;
    for (auto& spec : planForwards(ports, plan_)) {
      // A port forwarded already, or claimed by another start: the engine decides (in the
      // guest the same port fails there too).
      if (table_.isOpen(spec.key()) || claims_.holds(spec.key())) continue;
      if (!refusal(spec).empty()) continue;
      std::string error;
      if (options_.listeners) {
        if (!probeBind(spec, io_, error)) return {startRefusal(spec, error), nullptr};
        continue;
      }
      auto listener = openListener(spec, error);
      if (!listener) {
        BERTH_LOG(Info, "forwarding",
                  "start of " << spec.container_name << " refused: " << spec.proto << " "
                              << spec.hostAddress() << ": " << error);
        return {startRefusal(spec, error), nullptr};  // what `held` bound closes with it
      }
      held.emplace_back(std::move(spec), std::move(listener));
    }
    if (held.empty()) return {};
    const auto id = claims_.add(std::move(held), kClaimLife);
    auto settle = [weak = weak_from_this(), strand = strand_, id](bool started) {
      boost::asio::post(strand, [weak, id, started] {
        auto self = weak.lock();
        if (!self) return;
        if (started)
          self->claims_.expireAfter(id, kClaimAfterStart);
        else
          self->claims_.release(id);
      });
    };
    return {"", std::make_shared<ClaimHandle>(std::move(settle))};
  }

  // wanted() without the specs that can never open (refusal()): those are kept in refused_ for
  // the status, and each is logged once when it first appears.
  std::vector<ForwardSpec> forwardable() {
    auto specs = wanted();
    std::vector<PortTable::Conflict> refused;
    std::erase_if(specs, [&](const ForwardSpec& spec) {
      auto why = refusal(spec);
      if (why.empty()) return false;
      if (std::find_if(refused_.begin(), refused_.end(), [&](const PortTable::Conflict& c) {
            return c.spec == spec && c.error == why;
          }) == refused_.end())
        BERTH_LOG(Warn, "forwarding",
                  "not forwarding " << spec.proto << " " << spec.hostAddress() << " for "
                                    << spec.owner() << ": " << why);
      refused.push_back({spec, std::move(why)});
      return true;
    });
    if (refused != refused_) {
      refused_ = std::move(refused);
      refused_changed_ = true;
    }
    return specs;
  }

  // Containers' forwards, then the guest's own listeners on ports no container publishes
  // (docker-proxy listens in the guest on every published port) and no start has claimed.
  std::vector<ForwardSpec> wanted() const {
    std::vector<ForwardSpec> out = container_specs_;
    // Wake containers' ports are held whether they run or not (the same spec either way, so
    // the listener stays open across a stop and a wake).
    {
      std::set<std::tuple<std::string, std::string, std::uint16_t>> have;
      for (const auto& spec : out) have.insert(spec.key());
      for (const auto& [id, sleeper] : sleepers_) {
        for (const auto& spec : sleeper.specs) {
          if (have.insert(spec.key()).second) out.push_back(spec);
        }
      }
    }
    // Until the engine said what its containers publish, every docker-proxy would look like
    // a guest listener.
    if (!listed_) return out;
    std::set<GuestPort> published;
    std::set<std::tuple<std::string, std::string, std::uint16_t>> keys;
    for (const auto& spec : out) {
      published.insert({spec.proto, spec.guest_port});
      keys.insert(spec.key());
    }
    const auto now = std::chrono::steady_clock::now();
    for (const auto& spec : guest_specs_) {
      auto unpublished = unpublished_at_.find(spec.guest_port);
      if (unpublished != unpublished_at_.end() && now - unpublished->second <= kProxyGrace)
        continue;
      if (!published.count({spec.proto, spec.guest_port}) && !keys.count(spec.key()) &&
          !claims_.holds(spec.key()))
        out.push_back(spec);
    }
    return out;
  }

  // Ports listening in the guest that no container publishes: read in its namespace
  // (GuestListeners), or, for a guest with none to enter, by a script run in it
  // (GuestShellListeners).
  void watchGuestListeners() {
    if (guest_listeners_) guest_listeners_->stop();
    guest_listeners_.reset();
    guest_specs_.clear();
    guest_seen_.clear();
    std::weak_ptr<Impl> weak = shared_from_this();
    auto on_poll = [weak](const std::vector<ListeningSocket>& sockets) {
      if (auto self = weak.lock()) self->onGuestListeners(sockets);
    };
    std::shared_ptr<ListenerSource> source;
    std::string on = "on";
    if (options_.listeners) {
      if (!options_.guest_shell) {
        guest_listeners_state_ = "off: the driver gives no way to read the guest's sockets";
        return;
      }
      GuestShellListeners::Options shell;
      try {
        // Without the Docker API (containerd) a container's ports are its CNI hostPorts, read
        // from the guest's nat table in the same loop; Docker's own are read from its API.
        shell.argv = options_.guest_shell(GuestWatchScript::script(!options_.docker_api));
      } catch (const std::exception& e) {
        guest_listeners_state_ = std::string("off: ") + e.what();
        return;
      }
      shell.filter.own_ports = options_.guest_own_ports;
      // A loopback-only listener is reached through the driver's redirect in the guest, when it
      // has one (refusal() says which it cannot reach, once per port).
      shell.filter.loopback = true;
      source = std::make_shared<GuestShellListeners>(
          strand_, std::move(shell), on_poll, [weak, on](bool up, const std::string& why) {
            auto self = weak.lock();
            if (!self) return;
            const std::string state = up ? on : "off: " + why;
            if (state == self->guest_listeners_state_) return;
            self->guest_listeners_state_ = state;
            self->publish();
          });
    } else if (guest_netns_) {
      // Without the Docker API (containerd) a container's ports are its CNI hostPorts; Docker's
      // own are read from its API.
      source = std::make_shared<GuestListeners>(
          strand_, guest_netns_, on_poll,
          options_.docker_api ? std::chrono::milliseconds(GuestListeners::kPollEvery)
                              : kListenersOnlyPollEvery,
          !options_.docker_api);
    } else {
      guest_listeners_state_ = "off: no guest network namespace to read";
      return;
    }
    std::string error;
    if (!source->start(error)) {
      BERTH_LOG(Warn, "forwarding", "guest listeners are not forwarded: " << error);
      guest_listeners_state_ = "off: " + error;
      return;
    }
    guest_listeners_ = std::move(source);
    guest_listeners_state_ = on;
  }

  void onGuestListeners(const std::vector<ListeningSocket>& sockets) {
    // One forward per port: a wildcard listener is reached at the guest address, a
    // loopback-only one from inside the guest's namespace (ForwardSpec::guest_loopback).
    // A port counts once two polls in a row saw it: the engine's docker-proxy listens in the
    // guest while its container starts, a moment before the engine lists it as published.
    // Without the Docker API there is no such proxy: a port counts at once.
    std::set<GuestPort> now_seen;
    for (const auto& socket : sockets) now_seen.insert({socket.protocol, socket.port});
    std::map<GuestPort, const ListeningSocket*> best;
    auto rank = [](const std::string& address) {
      return address == "0.0.0.0" ? 0 : address == "::" ? 1 : address == "::1" ? 3 : 2;
    };
    for (const auto& socket : sockets) {
      if (options_.docker_api && !guest_seen_.count({socket.protocol, socket.port})) continue;
      auto [it, added] = best.emplace(GuestPort{socket.protocol, socket.port}, &socket);
      if (!added && rank(socket.address) < rank(it->second->address)) it->second = &socket;
    }
    std::vector<api::PublishedPort> ports;
    ports.reserve(best.size());
    for (const auto& [key, socket] : best) {
      // "::" is dual-stack unless the socket says otherwise: reached at the IPv4 guest address.
      const auto& address = socket->address;
      ports.push_back(
          {key.first, address == "::" ? "0.0.0.0" : address, key.second, key.second, "", ""});
    }
    guest_seen_ = std::move(now_seen);
    guest_specs_ = planForwards(ports, plan_);
    for (auto& spec : guest_specs_)
      if (!spec.guest_loopback.empty())
        spec.guest_destination = best.at({spec.proto, spec.guest_port})->destination;
    applyWanted();
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
    refused_changed_ = false;
    const auto active = table_.active();
    // The kernel carries the listeners it can; a conflict's port belongs to whoever holds it.
    LoopbackNat::PortMap wanted;
    for (const auto& spec : active) {
      // A wake container's connections go through berth while it sleeps or wakes (to start it)
      // and while berth.idle counts them.
      auto gate = gateFor(spec.container_id);
      if (natEligible(spec) && !draining_.count(spec.container_id) &&
          (!gate || gate->kernelMayCarry()))
        wanted.emplace(spec.host_port, spec.guest_port);
    }
    static const LoopbackNat::PortMap kNone;
    if (kernel_) kernel_->want(std::move(wanted));
    const auto& mapped = kernel_ ? kernel_->mapped() : kNone;
    nlohmann::json forwards = nlohmann::json::array();
    for (const auto& spec : active) {
      auto entry = specJson(spec);
      if (auto gate = gateFor(spec.container_id)) entry["wake"] = wakeStateName(gate->state());
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
    nlohmann::json refused = nlohmann::json::array();
    for (const auto& entry : refused_) {
      auto json = specJson(entry.spec);
      json["error"] = entry.error;
      refused.push_back(std::move(json));
    }
    nlohmann::json wake_problems = nlohmann::json::array();
    for (const auto& [id, sleeper] : sleepers_) {
      if (sleeper.gate && !sleeper.problem.empty())
        wake_problems.push_back({{"container", sleeper.gate->name()},
                                 {"containerId", id},
                                 {"problem", sleeper.problem}});
    }
    nlohmann::json status = {
        {"engine", engine_state_},
        {"guest", guest_.is_unspecified() ? std::string() : guest_.to_string()},
        {"bind", options_.bind == BindMode::Mirror ? "mirror" : "loopback"},
        {"udp", options_.udp},
        {"nat", kernel_ ? kernel_->state() : std::string("off")},
        {"guestListeners", guest_listeners_state_},
        {"forwards", std::move(forwards)},
        {"conflicts", std::move(conflicts)},
        {"refused", std::move(refused)},
        {"wakeProblems", std::move(wake_problems)}};
    {
      std::lock_guard lock(mutex_);
      snapshot_ = status;
    }
    if (on_change_) on_change_(status);
  }

  boost::asio::any_io_executor io_;
  boost::asio::any_io_executor strand_;
  PortTable table_;
  StartClaims claims_;
  boost::asio::steady_timer retry_;
  boost::asio::steady_timer idle_timer_;
  // Containers labelled berth.wake (stopped ones too), by ID; `gate` is null when the labels
  // do not ask to wake (e.g. berth.wake=false), so they are read and reported once.
  struct Sleeper {
    std::shared_ptr<WakeGate> gate;
    std::vector<ForwardSpec> specs;  // its fixed host ports, held while it sleeps
    bool state_known = false;        // running or not, as events or a list said
    std::string problem;             // why it cannot wake ("" = it can), for the status
  };

  // Why a wake container with no fixed host port cannot wake: its ports are the engine's choice
  // at each start (-P with ports only the image exposes, which the create filter cannot see).
  static std::string noFixedPort(const nlohmann::json& inspect) {
    const auto host_config = inspect.find("HostConfig");
    const bool publish_all = host_config != inspect.end() && host_config->is_object() &&
                             host_config->value("PublishAllPorts", false);
    return std::string("berth.wake=true, but it publishes no fixed host port") +
           (publish_all ? " (-P publishes the ports its image exposes on host ports the engine "
                          "picks anew at each start)"
                        : "") +
           ": nothing is held while it is stopped, so it does not wake; publish with "
           "-p HOST:CONTAINER";
  }
  std::map<std::string, Sleeper> sleepers_;
  // Open IndirectTcpForwards by their driver forward's loopback port (TrackedIndirect keeps it).
  struct Indirect {
    ForwardSpec outer;
    IndirectTcpForward* forward;
  };
  std::map<std::uint16_t, Indirect> indirect_;
  std::shared_ptr<WakeController> waker_;
  net::ConnectorPtr engine_;  // while the guest is up
  bool guest_up_ = false;
  bool listing_sleepers_ = false;
  bool sleepers_dirty_ = false;
  bool retry_armed_ = false;
  std::vector<ForwardSpec> container_specs_;  // the forwards the engine's containers want
  std::vector<ForwardSpec> guest_specs_;      // the guest's own listeners (GuestListeners)
  bool listed_ = false;                       // container_specs_ came from the engine
  std::set<GuestPort> guest_seen_;            // ports the last poll saw listening
  std::map<std::uint16_t, std::chrono::steady_clock::time_point> unpublished_at_;
  std::shared_ptr<ListenerSource> guest_listeners_;
  std::string guest_listeners_state_ = "off";
  std::optional<EngineClient> client_;  // inspects for claimForStart; set while started
  std::shared_ptr<EventWatcher> watcher_;
  boost::asio::ip::address guest_;
  ForwarderOptions options_;
  PlanOptions plan_;
  std::shared_ptr<const GuestNetns> guest_netns_;
  std::shared_ptr<KernelPath> kernel_;        // made by the first start(): it owns a thread
  std::set<std::string> draining_;            // containers sent TERM/KILL: no kernel path
  std::vector<PortTable::Conflict> refused_;  // wanted, but never openable (refusal())
  bool refused_changed_ = false;              // since the last publish()
  std::string engine_state_ = "stopped";
  bool published_once_ = false;
  std::function<void(const nlohmann::json&)> on_change_;
  mutable std::mutex mutex_;
  nlohmann::json snapshot_;
};

Forwarder::Forwarder(boost::asio::any_io_executor io) : impl_(std::make_shared<Impl>(io)) {}

// Synchronous on purpose: the listeners may call into a driver that dies right after.
Forwarder::~Forwarder() {
  // A destructor must not throw (that would terminate the daemon): stop() only allocates (the
  // status snapshot), and the listeners close with their own destructors if it fails half-way.
  try {
    impl_->stop();
  } catch (const std::exception& e) {
    BERTH_LOG(Error, "forwarding", "stopping the forwarder: " << e.what());
  }
}

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
  boost::asio::dispatch(impl_->strand(), [impl = impl_, engine = std::move(engine), guest,
                                          options = std::move(options)]() mutable {
    impl->start(std::move(engine), guest, std::move(options));
  });
}

void Forwarder::claimForStart(const std::string& container, std::function<void(StartClaim)> done) {
  boost::asio::post(impl_->strand(), [impl = impl_, container, done = std::move(done)] {
    impl->claimForStart(container, done);
  });
}

std::shared_ptr<void> Forwarder::holdAwake(const std::string& container) {
  auto hold = std::make_shared<Impl::AwakeHold>();
  boost::asio::post(impl_->strand(),
                    [impl = impl_, hold, container] { impl->openHold(hold, container); });
  return hold;
}

void Forwarder::stop() {
  boost::asio::dispatch(impl_->strand(), [impl = impl_] { impl->stop(); });
}

void Forwarder::sleep() {
  boost::asio::dispatch(impl_->strand(), [impl = impl_] { impl->sleep(); });
}

nlohmann::json Forwarder::status() const { return impl_->snapshot(); }

bool Forwarder::waking() const {
  const auto snapshot = impl_->snapshot();
  for (const auto& forward : snapshot.value("forwards", nlohmann::json::array()))
    if (forward.value("wake", "") == "waking") return true;
  return false;
}

void Forwarder::onChange(std::function<void(const nlohmann::json&)> callback) {
  boost::asio::dispatch(impl_->strand(), [impl = impl_, callback = std::move(callback)]() mutable {
    impl->setOnChange(std::move(callback));
  });
}

}  // namespace berth::fwd
