#include "server/ProfileDaemon.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <thread>

#include "forwarding/WakePortsFilter.h"
#include "server/BootingConnector.h"
#include "server/ByteRelayListener.h"
#include "server/ControlServer.h"
#include "server/DockerSockLink.h"
#include "server/DriverThread.h"
#include "server/EngineVersion.h"
#include "server/GuestForwardListeners.h"
#include "server/InProcessConnector.h"
#include "server/MountSetup.h"
#include "server/ProcessHolds.h"
#include "server/RefusingConnector.h"
#include "server/RelayServer.h"
#include "server/StartPortGate.h"
#include "server/TcpApiAccess.h"
#include "server/dashboard/DashboardAccess.h"
#include "server/dashboard/DashboardServer.h"
#include "server/domains/DomainsFront.h"
#include "server/net/Files.h"
#include "server/net/IoLoop.h"
#include "server/net/Log.h"
#include "server/net/TlsConnector.h"
#include "server/net/UnixConnector.h"
#include "vm/DriverFactory.h"
#include "vm/EngineProbe.h"
#include "vm/PrivateDir.h"
#include "vm/ProfilePaths.h"
#include "vm/Runtime.h"

namespace berth::server {
namespace {

using Clock = std::chrono::steady_clock;

const char* guestStateName(vm::GuestState state) {
  switch (state) {
    case vm::GuestState::Stopped:
      return "Stopped";
    case vm::GuestState::Starting:
      return "Starting";
    case vm::GuestState::Running:
      return "Running";
    case vm::GuestState::Stopping:
      return "Stopping";
    case vm::GuestState::Broken:
      return "Broken";
  }
  return "Unknown";
}

// How the relay reaches a running guest's engine.
net::ConnectorPtr engineConnectorFor(const vm::EngineEndpoint& endpoint) {
  return vm::EngineProbe::connectorFor(endpoint);
}

// Rewritten whole after every change (rename), for scripts and tests that read it.
void writeStatusFile(const std::string& path, const nlohmann::json& status) {
  try {
    net::Files::writeAtomic(path, status.dump(2) + "\n");
  } catch (const std::exception& e) {
    BERTH_LOG(Warn, "daemon", e.what());
  }
}

std::string seconds(double s) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.1fs", s);
  return buffer;
}

}  // namespace

ProfileDaemon::ProfileDaemon(DaemonSettings settings, std::unique_ptr<vm::Driver> driver)
    : settings_(std::move(settings)), driver_(std::move(driver)) {}

std::unique_ptr<ProfileDaemon> ProfileDaemon::forProfile(const vm::ProfilePaths& paths,
                                                         const vm::ProfileConfig& config) {
  return std::make_unique<ProfileDaemon>(DaemonSettings::forProfile(paths, config),
                                         vm::DriverFactory::makeDriver(config, paths));
}

ProfileDaemon::~ProfileDaemon() {
  worker_.reset();  // joins: no driver call outlives the driver
  engine_version_.reset();
  domains_.reset();
  forwarder_.reset();
  port_opener_.reset();  // drains: every queued open/close reaches the driver first
  releaseLock();
}

void ProfileDaemon::addStatusSection(std::string key, std::function<nlohmann::json()> section) {
  std::lock_guard lock(mutex_);
  sections_[std::move(key)] = std::move(section);
}

void ProfileDaemon::acquireLock() {
  if (settings_.lock_file.empty()) return;
  lock_fd_ = ::open(settings_.lock_file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd_ < 0) {
    throw std::runtime_error("cannot open " + settings_.lock_file + ": " + std::strerror(errno));
  }
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    const std::string pid = net::Files::readTrimmed(settings_.pid_file);
    ::close(lock_fd_);
    lock_fd_ = -1;
    throw std::runtime_error(
        "a daemon for profile '" + settings_.name + "' is already running" +
        (pid.empty() ? "" : " (pid " + pid + ")") + "; stop it first (berth stop" +
        (settings_.name == vm::ProfilePaths::kDefaultProfile ? "" : " " + settings_.name) + ")");
  }
  // The lock is ours: a pid file or sockets still here are leftovers of a crash.
  if (!settings_.pid_file.empty())
    net::Files::writeAtomic(settings_.pid_file, std::to_string(::getpid()) + "\n");
}

void ProfileDaemon::releaseLock() {
  if (lock_fd_ < 0) return;
  if (!settings_.pid_file.empty()) ::unlink(settings_.pid_file.c_str());
  ::close(lock_fd_);
  lock_fd_ = -1;
}

// The relay's listeners: TCP with mutual TLS first, then the unix socket, so a listen address
// that cannot be served leaves no socket file behind.
void ProfileDaemon::openListeners() {
  if (!settings_.listen.empty()) {
    nlohmann::json listen = nlohmann::json::array();
    for (const auto& env : TcpApiAccess::open(*relay_, settings_.listen, settings_.tls_dir,
                                              settings_.insecure_listen)) {
      std::string line = env.exports();
      std::replace(line.begin(), line.end(), '\n', ' ');
      BERTH_LOG(Info, "daemon", "clients over TCP use: " << line);
      listen.push_back({{"dockerHost", env.docker_host},
                        {"tlsVerify", env.tls_verify},
                        {"certPath", env.docker_cert_path}});
    }
    addStatusSection("listen", [listen] { return listen; });
  }
  relay_->listenUnix(settings_.docker_socket, settings_.docker_socket_fd);
  if (driver_->runtime().servesContainerdApi() && !settings_.containerd_socket.empty()) {
    // While the guest runs, clients may reach the engine's own socket with no relay at all
    // (a hard link: ByteRelayListener, SocketHandover), where it is a unix socket on the host
    // and idle stop is off: idle stop must see every client, and only a relay sees them.
    const vm::EngineEndpoint engine = driver_->engine();
    const bool direct =
        settings_.idle_stop_ms <= 0 && engine.kind == vm::EngineEndpoint::Kind::Unix;
    containerd_relay_ = std::make_unique<ByteRelayListener>(
        io_, settings_.containerd_socket, booting_, settings_.limits.chunk_bytes,
        [this](int delta) {
          connections_ += delta;
          noteActivity();
        },
        direct ? engine.unix_path : "");
    try {
      containerd_relay_->open();
    } catch (...) {
      relay_->stop(std::chrono::milliseconds(0), [] {});  // leaves no docker.sock behind
      throw;
    }
  }
  if (settings_.control_socket.empty()) return;
  control_ = std::make_unique<ControlServer>(
      io_, settings_.control_socket,
      [this](const std::string& method, const std::string& target,
             const ControlServer::Respond& respond) { handleControl(method, target, respond); });
  control_->open();
}

int ProfileDaemon::run() {
  // Whoever can write the profile dir can swap docker.sock or the TLS keys: refuse to serve.
  if (!settings_.private_dir.empty()) vm::PrivateDir::check(settings_.private_dir);
  acquireLock();
  worker_ = std::make_unique<DriverThread>();
  gate_ = std::make_shared<BootGate>([this] { bootOnWorker(); });
  // A hold begun or ended is activity: the idle delay starts again from the last one's end.
  holds_ = std::make_unique<ProcessHolds>(io_, [this](int) { noteActivity(); });
  // Its wake ports berth holds itself and relays through the driver's forwards
  // (fwd::IndirectTcpForward), so wake works there too.
  if (auto* opener = driver_->portOpener())
    port_opener_ = std::make_shared<GuestForwardListeners>(*opener);
  if (!driver_->runtime().servesDockerApi()) {
    wake_off_ = "the " + driver_->runtime().name() +
                " runtime has no Docker containers to label berth.wake=true";
  }
  if (driver_->runtime().servesContainerdApi()) {
    // Asked of containerd itself (never of the host's packages), at most 3 s old when shown.
    engine_version_ = std::make_unique<EngineVersion>(
        [this] {
          return driver_->runtime().engineVersion(driver_->engine(),
                                                  std::chrono::milliseconds(2500));
        },
        std::chrono::seconds(3));
  }

  auto relay_config = std::make_shared<RelayConfig>();
  const auto running_engine = [this]() -> net::ConnectorPtr {
    std::lock_guard lock(mutex_);
    return engine_;
  };
  const auto not_ready = [this] { return notReadyReason(); };
  booting_ =
      std::make_shared<BootingConnector>(gate_, running_engine, not_ready, settings_.log_file);
  // A runtime without the Docker API (containerd): docker.sock says how to use the profile,
  // in the one line the docker CLI prints (501: the daemon does not implement it).
  relay_config->engine = driver_->runtime().servesDockerApi()
                             ? booting_
                             : std::make_shared<RefusingConnector>(501, noDockerApiMessage());
  // Bind mounts name host paths: the "mounts" filter translates them into the driver's
  // shares and refuses the unshared ones. A container binding /var/run/docker.sock (or this
  // daemon's socket) gets the guest engine's own socket.
  auto filters = std::make_shared<api::FilterChainFactory>();
  if (settings_.translate_mounts) {
    registerMountFilter(*filters, driver_->shares(),
                        engineSocket(settings_.docker_socket, driver_->guestEngineSocket()),
                        settings_.profile);
  }
  // Ports the engine would choose at each start cannot be held while a berth.wake=true
  // container sleeps: its create gets fixed ones (not where wake is off: containerd).
  if (wake_off_.empty()) {
    filters->add(
        std::string(fwd::WakePortsFilterFactory::kName),
        std::make_shared<fwd::WakePortsFilterFactory>(&fwd::WakePortsFilter::pickLoopbackPort));
  }
  relay_config->filters = filters;
  // A container's fixed host ports are claimed before its start is relayed: a port another
  // program holds fails the start with Docker's error, as on a Docker host.
  relay_config->gate = std::make_shared<StartPortGate>(
      [this](const std::string& container, std::function<void(fwd::StartClaim)> done) {
        std::lock_guard lock(mutex_);
        if (!forwarder_) return done({});
        forwarder_->claimForStart(container, std::move(done));
      });
  relay_config->limits = settings_.limits;
  pool_ = std::make_unique<net::IoPool>(io_, settings_.io_threads, settings_.spin, &spin_gate_);
  relay_config->on_busy_count = [gate = &spin_gate_](int delta) { gate->busy(delta); };
  relay_config->place = [pool = pool_.get()] { return pool->place(); };
  relay_config->on_connection_count = [this](int delta) {
    connections_ += delta;
    noteActivity();
  };
  relay_ = std::make_unique<RelayServer>(io_, relay_config);
  // The dashboard's engine calls: docker.sock's relay, filters and gate, served in-process,
  // but they never boot the guest and are no client for idle stop. An open page neither wakes
  // the guest nor keeps it up; it shows the stop and follows the next boot.
  auto page_config = std::make_shared<RelayConfig>(*relay_config);
  page_config->on_connection_count = nullptr;
  if (driver_->runtime().servesDockerApi()) {
    page_config->engine = std::make_shared<BootingConnector>(
        gate_, running_engine, not_ready, settings_.log_file, BootingConnector::Boot::Never);
  }
  page_relay_ = std::make_unique<RelayServer>(io_, page_config);
  openListeners();
  const DockerSockLink docker_sock(settings_.docker_socket);
  if (settings_.link_docker_sock) {
    try {
      docker_sock.claim();
      BERTH_LOG(Info, "daemon", docker_sock.path() << " links to " << settings_.docker_socket);
    } catch (const std::exception& e) {
      BERTH_LOG(Error, "daemon", e.what());
    }
  }
  BERTH_LOG(
      Info, "daemon",
      "profile " << settings_.name << " (" << driver_->name() << "), pid " << ::getpid()
                 << ", docker socket " << settings_.docker_socket
                 << (settings_.lazy ? ", lazy boot" : "")
                 << (settings_.idle_stop_ms > 0 ? ", idle stop after " + settings_.idle_stop : ""));

  boost::asio::signal_set signals(io_, SIGINT, SIGTERM);
  signals.async_wait([this](boost::system::error_code ec, int signo) {
    if (ec) return;
    BERTH_LOG(Info, "daemon",
              "signal " << signo << ": stopping, in-flight requests get " << settings_.grace.count()
                        << "s");
    shutdown(false, [] {});
  });

  if (settings_.dashboard) {
    try {
      openDashboard();
    } catch (const std::exception& e) {
      BERTH_LOG(Error, "dashboard", "no dashboard: " << e.what());
    }
  }
  openDomains();
  if (!settings_.lazy) gate_->requestBoot();
  if (settings_.idle_stop_ms > 0) {
    idle_timer_ = std::make_unique<boost::asio::steady_timer>(io_);
    scheduleIdleCheck();
  }
  if (containerd_relay_ && containerd_relay_->mayServeDirectly()) {  // else nothing to follow
    handover_timer_ = std::make_unique<boost::asio::steady_timer>(io_);
    scheduleHandoverCheck();
  }

  // This thread runs io_ (and the relay connections placed on it); the pool's other threads run
  // an io_context each (net::IoPool). Blocking work runs on worker_.
  pool_->start();
  net::runIoLoop(io_, settings_.spin, &spin_gate_);
  pool_->stop();
  pool_.reset();  // the connections left on its threads end here, while the daemon is whole
  worker_.reset();
  engine_version_.reset();
  domains_.reset();
  forwarder_.reset();    // its listeners may refer to the driver
  port_opener_.reset();  // drains the driver's queued port calls
  driver_.reset();
  if (settings_.link_docker_sock) docker_sock.release();
  releaseLock();
  BERTH_LOG(Info, "daemon", "stopped");
  return 0;
}

std::string ProfileDaemon::noDockerApiMessage() const {
  const std::string& p = settings_.profile;
  const std::string flag = p.empty() || p == vm::ProfilePaths::kDefaultProfile ? "" : " -p " + p;
  return "berth profile '" + p + "' runs " + driver_->runtime().name() +
         ", not the Docker engine: use `berth ctr" + flag + " -- ARGS`, or ctr --address " +
         settings_.containerd_socket + " (CONTAINERD_ADDRESS)";
}

void ProfileDaemon::requestStop(bool force) {
  boost::asio::post(io_, [this, force] { shutdown(force, [] {}); });
}

void ProfileDaemon::bootOnWorker() {
  worker_->post([this] {
    {
      std::lock_guard lock(mutex_);
      boot_started_ = Clock::now();
      progress_.clear();
    }
    auto progress = [this](const std::string& line) {
      std::lock_guard lock(mutex_);
      const double at = std::chrono::duration<double>(Clock::now() - boot_started_).count();
      progress_.push_back("[" + seconds(at) + "] " + line);
      BERTH_LOG(Info, "boot", line);
    };
    if (shutting_down_) {
      gate_->bootFinished("the daemon is shutting down");
      return;
    }
    try {
      guest_events_.add("booting", driver_->name() + " driver");
      progress("booting the guest (" + driver_->name() + " driver)");
      driver_->start(progress);
      auto engine = engineConnectorFor(driver_->engine());
      {
        std::lock_guard lock(mutex_);
        engine_ = engine;
        last_boot_seconds_ = std::chrono::duration<double>(Clock::now() - boot_started_).count();
      }
      progress("guest up in " + seconds(last_boot_seconds_));
      guest_events_.add("up", "in " + seconds(last_boot_seconds_));
      onGuestUp();
      noteActivity();
      gate_->bootFinished(std::nullopt);
    } catch (const std::exception& e) {
      BERTH_LOG(Error, "boot", "boot failed: " << e.what());
      progress(std::string("boot failed: ") + e.what());
      guest_events_.add("boot failed", e.what());
      gate_->bootFinished(std::string(e.what()));
    }
  });
}

// Starts port forwarding for the engine that just came up. A driver that opens host ports
// itself (qemu: QEMU's hostfwd) gets the forwards through GuestForwardListeners (on its own
// worker); otherwise the forwarder relays to the guest address. Runs on the driver thread,
// after every (re)boot.
void ProfileDaemon::onGuestUp() {
  if (containerd_relay_) containerd_relay_->serveDirectly(true);  // the engine answers now
  if (domains_) {
    DomainRouter::Dial dial;
    std::string unreachable;
    if (auto* dialer = driver_->guestDialer()) {
      try {
        dialer->ready();  // blocks (an ssh login): this is the driver thread
        dial = [dialer](const boost::asio::ip::tcp::endpoint& target, const std::string& what) {
          return dialer->connector(target, what);
        };
      } catch (const std::exception& e) {
        unreachable = e.what();
        BERTH_LOG(Error, "domains", "names cannot reach the guest: " << unreachable);
      }
    }
    std::lock_guard lock(mutex_);
    if (unreachable.empty())
      domains_->guestUp(engine_, driver_->guestNetworkNamespace(), std::move(dial));
    else
      domains_->guestDown("unreachable (" + unreachable + ")");
  }
  if (!port_opener_ && driver_->guestAddress().empty()) return;  // no ports to forward
  fwd::ForwarderOptions options = settings_.forwarding;
  options.guest_netns = driver_->guestNetworkNamespace();
  options.listeners = port_opener_;
  if (port_opener_) {
    // A VM: its listening sockets are read by a script run over the driver's shell (ssh).
    options.guest_shell = [driver = driver_.get()](const std::string& script) {
      return driver->shellArgv({script}, false);
    };
    const auto own = driver_->guestServicePorts();
    options.guest_own_ports = {own.begin(), own.end()};
  }
  // containerd: the guest's listening sockets are the ports (host-network tasks); no
  // container publishes one, and none wakes.
  options.docker_api = driver_->runtime().servesDockerApi();
  if (options.docker_api)
    options.boot = [this](const auto& give) {
      gate_->whenUp(io_.get_executor(), [this, give](const std::string* error) {
        if (error) return give(*error, nullptr);
        std::lock_guard lock(mutex_);
        give("", engine_);
      });
    };
  net::ConnectorPtr engine;
  {
    std::lock_guard lock(mutex_);
    engine = engine_;
    if (!forwarder_) {
      forwarder_ = std::make_unique<fwd::Forwarder>(io_.get_executor());
      if (!settings_.forward_status_file.empty()) {
        forwarder_->onChange([path = settings_.forward_status_file](const nlohmann::json& status) {
          writeStatusFile(path, status);
        });
      }
    }
  }
  try {
    forwarder_->start(engine, driver_->guestAddress(), options);
  } catch (const std::exception& e) {  // e.g. a loopback guest address: no host relay to it
    BERTH_LOG(Warn, "forwarding", "ports are not forwarded: " << e.what());
  }
}

// Closes every forwarded host port (for now: but the ports of wake containers, which boot the
// guest again). Runs on the driver thread before the guest stops (idle stop, berth stop, SIGTERM).
void ProfileDaemon::onGuestDown(bool for_now) {
  // Before the engine goes: a client from now on reaches berth, which boots it again.
  if (containerd_relay_) containerd_relay_->serveDirectly(false);
  if (domains_) domains_->guestDown(for_now ? "stopped for now" : "stopped", for_now);
  std::lock_guard lock(mutex_);
  if (!forwarder_) return;
  if (for_now)
    forwarder_->sleep();
  else
    forwarder_->stop();
}

void ProfileDaemon::stopGuestOnWorker(const std::string& action, const std::string& why, bool force,
                                      bool for_now) {
  guest_events_.add(action, why);
  onGuestDown(for_now);
  {
    std::lock_guard lock(mutex_);
    engine_.reset();
  }
  try {
    driver_->stop(force);
  } catch (const std::exception& e) {
    guest_events_.add("stop failed", e.what());
    throw;
  }
  guest_events_.add("stopped", "");
}

std::string ProfileDaemon::notReadyReason() const {
  const vm::GuestStatus status = driver_->status();
  if (status.state == vm::GuestState::Running) return "";
  return std::string(guestStateName(status.state)) +
         (status.detail.empty() ? "" : ": " + status.detail);
}

void ProfileDaemon::noteActivity() {
  std::lock_guard lock(mutex_);
  last_activity_ = Clock::now();
}

void ProfileDaemon::scheduleIdleCheck() {
  const auto interval =
      std::chrono::milliseconds(std::clamp<long long>(settings_.idle_stop_ms / 4, 100, 5000));
  idle_timer_->expires_after(interval);
  idle_timer_->async_wait([this](boost::system::error_code ec) {
    if (ec || shutting_down_) return;
    idleCheck();
    scheduleIdleCheck();
  });
}

// Follows the engine between boots: a restarted engine has a new socket (hand it that one), an
// engine down (restarting, broken) leaves clients to berth, which says why it cannot serve.
void ProfileDaemon::scheduleHandoverCheck() {
  handover_timer_->expires_after(std::chrono::seconds(1));
  handover_timer_->async_wait([this](boost::system::error_code ec) {
    if (ec || shutting_down_) return;
    // A boot in progress decides for itself (onGuestUp, onGuestDown).
    const auto gate = gate_->state();
    if (gate != BootGate::State::Booting) {
      containerd_relay_->serveDirectly(gate == BootGate::State::Up &&
                                       driver_->status().state == vm::GuestState::Running);
    }
    scheduleHandoverCheck();
  });
}

int ProfileDaemon::clients() const { return connections_ + holds_->count(); }

void ProfileDaemon::idleCheck() {
  if (gate_->state() != BootGate::State::Up || clients() > 0) return;
  {
    std::lock_guard lock(mutex_);
    if (Clock::now() - last_activity_ < std::chrono::milliseconds(settings_.idle_stop_ms)) return;
    last_activity_ = Clock::now();  // one check in flight at a time
  }
  worker_->post([this] {
    // A berth.wake container being woken (its wake may have booted this guest) is about to
    // run: not idle. forwarder_ is only set on this thread, so it is read here without mutex_
    // (which must not be taken under the gate's lock in beginStop).
    const fwd::Forwarder* forwarder = forwarder_.get();
    const auto waking = [forwarder] { return forwarder != nullptr && forwarder->waking(); };
    const int running = runningContainers();
    if (running != 0 || waking()) {
      BERTH_LOG(Debug, "idle",
                "not idle: " << running << " running container(s)" << (waking() ? ", a wake" : ""));
      return;  // running containers (or unknown), or a wake: not idle
    }
    if (!gate_->beginStop([&] { return clients() == 0 && !shutting_down_ && !waking(); })) return;
    BERTH_LOG(
        Info, "idle",
        "no client and no running container for " << settings_.idle_stop << ": stopping the guest");
    try {
      stopGuestOnWorker("idle stop",
                        "no client and no running container for " + settings_.idle_stop, false,
                        true);
    } catch (const std::exception& e) {
      BERTH_LOG(Error, "idle", "idle stop: " << e.what());
    }
    {
      std::lock_guard lock(mutex_);
      ++idle_stops_;
    }
    gate_->stopFinished();
  });
}

int ProfileDaemon::runningContainers() const {
  try {
    return driver_->runtime().runningContainers(driver_->engine());
  } catch (const std::exception&) {
    return -1;  // unknown means "not idle"
  }
}

void ProfileDaemon::shutdown(bool force, std::function<void()> after_guest_stopped) {
  if (shutting_down_.exchange(true)) {
    after_guest_stopped();  // already on its way down
    return;
  }
  if (idle_timer_) idle_timer_->cancel();
  if (handover_timer_) handover_timer_->cancel();
  holds_->stop();
  if (containerd_relay_) containerd_relay_->stop();
  page_relay_->stop(std::chrono::milliseconds(0), [] {});
  relay_->stop(settings_.grace, [this, force, after = std::move(after_guest_stopped)] {
    worker_->post([this, force, after] {
      try {
        stopGuestOnWorker("stopping", force ? "the daemon stops (forced)" : "the daemon stops",
                          force);
      } catch (const std::exception& e) {
        BERTH_LOG(Error, "daemon", "stopping the guest: " << e.what());
      }
      boost::asio::post(io_, [this, after] {
        after();
        if (control_) control_->stop();
        if (domains_) domains_->stop();
        {
          std::lock_guard lock(mutex_);
          if (dashboard_) dashboard_->stop();
        }
        // Let the control answer reach the CLI, then end the io threads.
        auto timer =
            std::make_shared<boost::asio::steady_timer>(io_, std::chrono::milliseconds(200));
        timer->async_wait([this, timer](boost::system::error_code) { io_.stop(); });
      });
    });
  });
}

bool ProfileDaemon::engineVersionReadable() const {
  return engine_version_ && gate_->state() == BootGate::State::Up;
}

void ProfileDaemon::handleControl(const std::string& method, const std::string& target,
                                  const std::function<void(int, nlohmann::json)>& respond) {
  const std::string path = target.substr(0, target.find('?'));
  if (method == "GET" && path == "/status") {
    if (engineVersionReadable()) {
      // The engine's version as it is now: read again first when the last reading is old.
      engine_version_->refresh(gate_->boots(), [this, respond] { respond(200, statusJson()); });
    } else {
      respond(200, statusJson());
    }
  } else if (method == "POST" && path == "/boot") {
    gate_->requestBoot();
    respond(202, statusJson());
  } else if (method == "POST" && path == "/hold") {
    holdControl(target, respond);
  } else if (method == "POST" && path == "/dashboard") {
    worker_->post([this, respond] {
      try {
        respond(200, {{"url", openDashboard()}});
      } catch (const std::exception& e) {
        respond(500, {{"message", std::string("cannot serve the dashboard: ") + e.what()}});
      }
    });
  } else if (method == "POST" && path == "/stop") {
    const bool force = target.find("force=1") != std::string::npos;
    BERTH_LOG(Info, "daemon", "stop requested" << (force ? " (force)" : ""));
    shutdown(force, [respond] { respond(200, {{"stopped", true}}); });
  } else {
    respond(404, {{"message", "unknown control request " + method + " " + path}});
  }
}

void ProfileDaemon::holdControl(const std::string& target,
                                const std::function<void(int, nlohmann::json)>& respond) {
  const std::string text = queryParam(target, "pid");
  const auto pid = ProcessHolds::parsePid(text);
  if (!pid) {
    respond(400, {{"message", "hold: pid must be a positive process id, not '" + text + "'"}});
    return;
  }
  // On io_'s thread, which alone touches the holds (the control exchange may run elsewhere).
  boost::asio::post(io_, [this, pid = *pid, respond] {
    if (shutting_down_) {
      respond(409, {{"message", "hold: the daemon is stopping"}});
      return;
    }
    try {
      holds_->add(pid);
    } catch (const std::invalid_argument& e) {
      respond(400, {{"message", std::string("hold: ") + e.what()}});
      return;
    }
    BERTH_LOG(Info, "idle", "pid " << pid << " holds off idle stop while it runs");
    respond(200, {{"pid", pid}, {"holds", holds_->count()}});
  });
}

nlohmann::json ProfileDaemon::statusJson() const {
  const vm::GuestStatus guest = driver_->status();
  nlohmann::json status = settings_.status_base ? settings_.status_base(guestStateName(guest.state))
                                                : nlohmann::json::object();
  status["driver"] = driver_->name();
  status["address"] = guest.state == vm::GuestState::Running ? driver_->guestAddress() : "";
  status["mounts"] = vm::ProfileConfig::sharesJson(driver_->shares());
  status["guest"] = {{"state", guestStateName(guest.state)}, {"detail", guest.detail}};
  status["daemon"] = {
      {"running", true},
      {"pid", ::getpid()},
      {"log", settings_.log_file},
      {"socketActivated", settings_.docker_socket_fd >= 0},
      {"uptimeSeconds", std::chrono::duration<double>(Clock::now() - started_).count()}};
  status["connections"] = connections_.load();  // containerd.sock's direct clients not among them
  if (containerd_relay_) status["containerdSocketDirect"] = containerd_relay_->servedDirectly();
  status["holds"] = holds_->count();  // berth ssh/ctr/nerdctl running: clients too
  std::map<std::string, std::function<nlohmann::json()>> sections;
  {
    std::lock_guard lock(mutex_);
    status["boot"] = {{"lazy", settings_.lazy},
                      {"idleStop", settings_.idle_stop},
                      {"state", BootGate::stateName(gate_->state())},
                      {"boots", gate_->boots()},
                      {"idleStops", idle_stops_},
                      {"lastBootSeconds", last_boot_seconds_},
                      {"lastError", gate_->lastError()},
                      {"progress", progress_}};
    sections = sections_;
  }
  for (const auto& [key, section] : sections) status[key] = section();
  {
    std::lock_guard lock(mutex_);
    // When idle stop would fire if nothing happens (null: not pending, e.g. a client is
    // connected; running containers are asked for only when it comes).
    nlohmann::json idle_in;
    if (settings_.idle_stop_ms > 0 && gate_->state() == BootGate::State::Up && clients() == 0) {
      const double idle_for = std::chrono::duration<double>(Clock::now() - last_activity_).count();
      idle_in = std::max(0.0, settings_.idle_stop_ms / 1000.0 - idle_for);
    }
    status["boot"]["idleStopInSeconds"] = idle_in;
    // containerd's own answer while its guest is up; null when not known.
    const std::string version = engineVersionReadable() ? engine_version_->of(gate_->boots()) : "";
    status["containerdVersion"] = version.empty() ? nlohmann::json() : nlohmann::json(version);
    status["dashboard"] =
        dashboard_ ? nlohmann::json{{"url", dashboard_->url(false)}} : nlohmann::json();
    status["domains"] = domains_ ? domains_->status() : domainsOff();
    status["wake"] = wake_off_.empty() ? nlohmann::json{{"enabled", true}}
                                       : nlohmann::json{{"enabled", false}, {"off", wake_off_}};
    if (forwarder_) {
      auto forwarding = forwarder_->status();
      if (!forwarding.value("wakeProblems", nlohmann::json::array()).empty())
        status["wake"]["problems"] = forwarding["wakeProblems"];
      status["forwards"] = forwarding["forwards"];
      status["forwardConflicts"] = forwarding["conflicts"];
      status["forwardRefused"] = forwarding["refused"];
      status["forwardNat"] = forwarding["nat"];
      status["forwardGuestListeners"] = forwarding["guestListeners"];
    }
  }
  return status;
}

void ProfileDaemon::openDomains() {
  if (settings_.domains_dir.empty() || !settings_.domains) return;
  // Container addresses are reached from inside the guest's network namespace (ns driver), or
  // through the driver's dialer into the guest (qemu: over the profile's ssh).
  if (!driver_->runtime().servesDockerApi()) {  // names come from the Docker API's containers
    domains_off_ = "the " + driver_->runtime().name() + " runtime has no Docker API to name from";
    BERTH_LOG(Info, "domains", "no names front: " << domains_off_);
    return;
  }
  if (driver_->guestNetworkNamespace().empty() && !driver_->guestDialer()) {
    domains_off_ = "the " + driver_->name() +
                   " driver cannot reach container addresses from the host (no guest network "
                   "namespace, no dialer into the guest)";
    BERTH_LOG(Info, "domains", "no names front: " << domains_off_);
    return;
  }
  const std::string port_file = settings_.domains_dir + "/domains.port";
  DomainsFront::Options options;
  options.profile = settings_.name;
  options.port = static_cast<std::uint16_t>(settings_.domains_port);
  options.kept_port = DashboardServer::loadPort(port_file);
  options.shared_port = static_cast<std::uint16_t>(settings_.domains_shared_port);
  options.profile_port = [home = settings_.domains_home](const std::string& profile) {
    if (home.empty() || !vm::ProfilePaths::isValidName(profile)) return std::uint16_t{0};
    return DashboardServer::loadPort(home + "/" + profile + "/domains.port");
  };
  // A name asked for after an idle stop boots the guest, as docker.sock and wake ports do.
  options.boot = [this](std::function<void(const std::string&)> done) {
    gate_->whenUp(io_.get_executor(), [done = std::move(done)](const std::string* error) {
      done(error ? *error : std::string());
    });
  };
  // An open name connection is a client (idle stop waits for it) ...
  options.hold_client = [this]() -> std::shared_ptr<void> {
    connections_ += 1;
    noteActivity();
    return {nullptr, [this](void*) {
              connections_ -= 1;
              noteActivity();
            }};
  };
  // ... and, while it relays, a connection of its container (berth.idle waits for it).
  options.hold_container = [this](const std::string& container) -> std::shared_ptr<void> {
    std::lock_guard lock(mutex_);
    return forwarder_ ? forwarder_->holdAwake(container) : nullptr;
  };
  auto front = std::make_unique<DomainsFront>(io_, options);
  try {
    front->open();
    if (front->port() != options.kept_port) DashboardServer::savePort(port_file, front->port());
  } catch (const std::exception& e) {
    domains_off_ = e.what();
    BERTH_LOG(Error, "domains", "no names front: " << e.what());
    return;
  }
  domains_ = std::move(front);
}

nlohmann::json ProfileDaemon::domainsOff() const {
  return {{"enabled", false},
          {"off", settings_.domains ? domains_off_ : std::string("domains: false in berth.yaml")}};
}

std::string ProfileDaemon::openDashboard() {
  if (settings_.dashboard_dir.empty())
    throw std::runtime_error("this daemon serves no dashboard (it runs no profile)");
  {
    std::lock_guard lock(mutex_);
    if (dashboard_) return dashboard_->url(true);
  }
  const std::string port_file = settings_.dashboard_dir + "/dashboard.port";
  DashboardServer::Options options;
  options.token = DashboardServer::loadToken(settings_.dashboard_dir + "/dashboard.token");
  // The page's engine calls take the docker CLI's path (the relay and its filters), in-process
  // and without booting the guest or holding it up (run()).
  options.engine = std::make_shared<InProcessConnector>(
      io_,
      [relay = page_relay_.get()](net::ByteStreamPtr stream) { relay->serve(std::move(stream)); },
      "the dashboard's relay to the engine");
  options.guest_events = [this](std::uint64_t after) { return guest_events_.since(after); };
  options.status = [this] { return statusJson(); };
  options.engine_up = [this] { return gate_->state() == BootGate::State::Up; };
  options.guest_action = [this](const std::string& action,
                                const DashboardServer::Respond& respond) {
    guestAction(action, respond);
  };
  const auto kept = DashboardServer::loadPort(port_file);
  options.port =
      settings_.dashboard_port > 0 ? static_cast<std::uint16_t>(settings_.dashboard_port) : kept;
  auto server = std::make_unique<DashboardServer>(io_, options);
  try {
    server->open();
  } catch (const std::exception& e) {
    if (settings_.dashboard_port > 0 || options.port == 0) throw;
    BERTH_LOG(Warn, "dashboard", "the kept port " << options.port << " is taken; another one");
    options.port = 0;
    server = std::make_unique<DashboardServer>(io_, options);
    server->open();
  }
  if (settings_.dashboard_port == 0 && server->port() != kept)
    DashboardServer::savePort(port_file, server->port());
  std::lock_guard lock(mutex_);
  dashboard_ = std::move(server);
  return dashboard_->url(true);
}

void ProfileDaemon::guestAction(const std::string& action,
                                const std::function<void(int, nlohmann::json)>& respond) {
  if (action == "start") {
    gate_->requestBoot();
    respond(202, {{"state", BootGate::stateName(gate_->state())}});
    return;
  }
  worker_->post([this, action, respond] {
    // A stop the page asks for, like idle stop: the socket stays, the next request boots.
    if (!gate_->beginStop([this] { return !shutting_down_; })) {
      respond(409, {{"message", std::string("the guest is ") + BootGate::stateName(gate_->state()) +
                                    ": it can be stopped once it is up"}});
      return;
    }
    BERTH_LOG(Info, "daemon", "guest " << action << " asked from the dashboard");
    try {
      stopGuestOnWorker("stopping", action + " asked from the dashboard", false, true);
    } catch (const std::exception& e) {
      BERTH_LOG(Error, "daemon", "stopping the guest: " << e.what());
    }
    gate_->stopFinished();
    if (action == "restart") gate_->requestBoot();
    respond(200, {{"state", BootGate::stateName(gate_->state())}});
  });
}

}  // namespace berth::server
