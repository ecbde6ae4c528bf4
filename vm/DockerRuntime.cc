#include "vm/DockerRuntime.h"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "server/net/ChildProcess.h"
#include "server/net/Files.h"
#include "server/net/Log.h"
#include "vm/EngineProbe.h"
#include "vm/ProfileConfig.h"
#include "vm/ProfilePaths.h"

namespace berth::vm {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int kDefaultStopTimeout = 10;    // seconds: docker's own default
constexpr int kShutdownTimeout = 15;       // seconds: dockerd's default shutdown-timeout
constexpr auto kReloadLimit = seconds(5);  // dockerd applies a SIGHUP'd daemon.json in this

}  // namespace

std::string DockerRuntime::dockerdPath() {
  if (const char* env = std::getenv("BERTH_DOCKERD"); env != nullptr && *env != '\0') return env;
  for (const char* candidate :
       {"/usr/sbin/dockerd", "/usr/bin/dockerd", "/usr/local/bin/dockerd"}) {
    if (::access(candidate, X_OK) == 0) return candidate;
  }
  throw DriverError(
      "dockerd not found: install it (apt-get install docker.io) or set BERTH_DOCKERD");
}

std::vector<std::string> DockerRuntime::nsArgv(const NsEngineLayout& layout) const {
  const std::string& state_dir = layout.paths.state_dir;
  // daemon.json is the profile's `docker:` map, minus what berth itself must own.
  const auto& docker = layout.config.docker;
  nlohmann::json daemon = docker.is_object() ? docker : nlohmann::json::object();
  for (const char* owned : {"data-root", "exec-root", "pidfile", "hosts", "cgroup-parent"}) {
    if (daemon.erase(owned) > 0) {
      BERTH_LOG(Warn, "ns", "docker." << owned << " in berth.yaml is ignored: berth sets it");
    }
  }
  std::vector<std::string> argv = {dockerdPath(),
                                   "--config-file",
                                   state_dir + "/daemon.json",
                                   "--data-root",
                                   state_dir + "/data",
                                   "--exec-root",
                                   layout.exec_root,
                                   "--pidfile",
                                   layout.pid_file,
                                   "-H",
                                   "unix://" + layout.engine_socket};
  if (!daemon.contains("userland-proxy")) argv.push_back("--userland-proxy=false");
  // Containers outlive a dockerd crash or restart (supervision). In the file, not a flag:
  // shutdown() turns it off with a reload (SIGHUP), which refuses keys also given as flags.
  if (!daemon.contains("live-restore")) daemon["live-restore"] = true;
  daemon["cgroup-parent"] = layout.cgroup_parent;  // containers count against the guest's limits
  // That parent is a plain group berth made, not a systemd slice: dockerd's systemd cgroup
  // driver (its default on a cgroup v2 host run by systemd) refuses it, so berth owns the driver.
  nlohmann::json exec_opts = nlohmann::json::array();
  for (const auto& opt : daemon.value("exec-opts", nlohmann::json::array())) {
    if (opt.is_string() && opt.get<std::string>().rfind("native.cgroupdriver", 0) == 0) {
      BERTH_LOG(Warn, "ns",
                "docker.exec-opts " << opt.get<std::string>()
                                    << " in berth.yaml is ignored: berth sets it");
    } else {
      exec_opts.push_back(opt);
    }
  }
  exec_opts.push_back("native.cgroupdriver=cgroupfs");
  daemon["exec-opts"] = exec_opts;
  net::Files::writeAtomic(state_dir + "/daemon.json", daemon.dump(2) + "\n");

  // dockerd refuses to start while its pid file names a process that exists, and a killed
  // dockerd whose parent is gone may linger as a zombie that nobody reaps.
  // The same holds for the containerd that dockerd starts: with a stale pid file it waits
  // for a dead containerd instead of starting one.
  if (!net::ChildProcess::adopt(layout.pid_file, "dockerd")) ::unlink(layout.pid_file.c_str());
  const std::string containerd_pid_file = layout.exec_root + "/containerd/containerd.pid";
  if (!net::ChildProcess::adopt(containerd_pid_file, "containerd")) {
    ::unlink(containerd_pid_file.c_str());
  }
  return argv;
}

std::vector<NsGuestBind> DockerRuntime::nsBinds(const NsEngineLayout& layout) const {
  return {{layout.paths.state_dir + "/run-containerd", "/run/containerd"}};
}

bool DockerRuntime::answers(const EngineEndpoint& endpoint, milliseconds timeout,
                            std::string& error) const {
  return EngineProbe(endpoint).ping(timeout, error);
}

int DockerRuntime::runningContainers(const EngineEndpoint& endpoint) const {
  net::HttpResponse reply;
  try {
    reply = EngineProbe(endpoint).http().get("/containers/json", seconds(10));
  } catch (const std::exception&) {
    return -1;
  }
  if (reply.status != 200) return -1;
  try {
    return static_cast<int>(nlohmann::json::parse(reply.body).size());
  } catch (const std::exception&) {
    return -1;
  }
}

int DockerRuntime::shutdownSeconds(const EngineEndpoint& endpoint, int shutdown_timeout) {
  int limit = shutdown_timeout;
  const EngineProbe probe(endpoint);
  auto reply = probe.http().get("/containers/json", seconds(10));
  if (reply.status != 200) return limit;
  try {
    for (const auto& c : nlohmann::json::parse(reply.body)) {
      auto inspect =
          probe.http().get("/containers/" + c.at("Id").get<std::string>() + "/json", seconds(10));
      if (inspect.status != 200) continue;
      const auto config = nlohmann::json::parse(inspect.body).value("Config", nlohmann::json());
      const int stop_timeout = config.value("StopTimeout", kDefaultStopTimeout);
      if (stop_timeout < 0) return -1;            // waits for ever, as dockerd itself does
      limit = std::max(limit, stop_timeout + 5);  // dockerd's own grace on top
    }
  } catch (const std::exception& e) {
    BERTH_LOG(Warn, "ns", "cannot read the containers' stop timeouts: " << e.what());
  }
  return limit;
}

void DockerRuntime::disableLiveRestore(net::ChildProcess& dockerd, const EngineEndpoint& endpoint,
                                       const std::string& file) {
  nlohmann::json daemon;
  try {
    daemon = nlohmann::json::parse(net::Files::readOr(file));
  } catch (const std::exception&) {
    return;  // not berth's file: leave dockerd as it is
  }
  if (!daemon.value("live-restore", false)) return;
  daemon["live-restore"] = false;
  net::Files::writeAtomic(file, daemon.dump(2) + "\n");
  dockerd.signal(SIGHUP);
  const auto off = [](const net::HttpResponse& reply) {
    try {
      return reply.status == 200 &&
             !nlohmann::json::parse(reply.body).value("LiveRestoreEnabled", true);
    } catch (const std::exception&) {
      return false;
    }
  };
  net::HttpClient::Wait wait{Clock::now() + kReloadLimit};
  wait.keep_waiting = [&dockerd] { return dockerd.running(); };
  if (EngineProbe(endpoint).http().waitUntil("/info", off, wait)) return;
  BERTH_LOG(Warn, "ns", "dockerd did not turn live-restore off; its containers are killed");
}

void DockerRuntime::shutdown(net::ChildProcess& dockerd, const EngineEndpoint& endpoint,
                             const NsEngineLayout& layout) const {
  const std::string daemon_json = layout.paths.state_dir + "/daemon.json";
  nlohmann::json daemon;
  try {
    daemon = nlohmann::json::parse(net::Files::readOr(daemon_json));
  } catch (const std::exception&) {
    daemon = nlohmann::json::object();
  }
  int shutdown_timeout = kShutdownTimeout;  // unless daemon.json sets a whole number
  if (const auto it = daemon.find("shutdown-timeout");
      it != daemon.end() && it->is_number_integer())
    shutdown_timeout = it->get<int>();
  const int limit = shutdownSeconds(endpoint, shutdown_timeout);
  disableLiveRestore(dockerd, endpoint, daemon_json);
  BERTH_LOG(Info, "ns", "shutting dockerd down (its containers get their stop timeouts)");
  dockerd.signal(SIGTERM);
  const auto wait = limit < 0 ? std::chrono::hours(24) : seconds(limit + 10);
  if (!dockerd.wait(std::chrono::duration_cast<milliseconds>(wait))) {
    BERTH_LOG(Warn, "ns", "dockerd did not shut down within " << limit + 10 << "s; killing it");
  }
}

}  // namespace berth::vm
