#include "server/DaemonSettings.h"

#include <cstdlib>
#include <cstring>

#include "api/Numbers.h"
#include "server/FdLimit.h"
#include "server/ProfileStatus.h"
#include "server/net/IoPool.h"

namespace berth::server {

DaemonSettings DaemonSettings::forProfile(const vm::ProfilePaths& paths,
                                          const vm::ProfileConfig& config) {
  DaemonSettings s;
  s.name = paths.name;
  s.profile = paths.name;
  s.docker_socket = paths.docker_socket;
  s.control_socket = paths.control_socket;
  s.containerd_socket = paths.containerd_socket;
  s.lock_file = paths.lock_file;
  s.pid_file = paths.pid_file;
  s.private_dir = paths.dir;
  s.log_file = paths.log_file;
  s.link_docker_sock = config.docker_sock;
  s.limits.head_timeout = std::chrono::duration_cast<std::chrono::seconds>(
      std::chrono::milliseconds(config.relayHeadTimeoutMillis()));
  s.limits.max_connections =
      FdLimit::capConnections(static_cast<std::size_t>(config.relay.max_connections));
  s.spin = std::chrono::microseconds(config.relay.spin_micros);
  s.io_threads = net::IoPool::defaultThreads();
  // `listen:` in berth.yaml: clients use <dir>/tls/client as DOCKER_CERT_PATH.
  s.listen = config.listen;
  s.tls_dir = paths.dir + "/tls";
  s.lazy = config.boot.lazy;
  s.idle_stop_ms = config.idleStopMillis();
  s.idle_stop = config.boot.idle_stop;
  s.forwarding.bind = fwd::parseBindMode(config.forwarding.bind);
  s.forwarding.udp = config.forwarding.udp;
  if (config.forwarding.nat) s.forwarding.nat = paths.name;
  s.dashboard_dir = paths.dir;
  s.dashboard = config.dashboard.enabled;
  s.dashboard_port = config.dashboard.port;
  s.domains_dir = paths.dir;
  s.domains_home = paths.home_dir;
  s.domains = config.domains.enabled;
  s.domains_port = config.domains.port;
  // Tests (and hosts where 80 belongs to something else) move or drop the shared port.
  if (const char* shared = std::getenv("BERTH_DOMAINS_SHARED_PORT"); shared && *shared) {
    // Not a number, or out of range: the shared port keeps its default.
    const auto port = api::parseWhole<unsigned>(shared);
    if (port && *port < 65536) s.domains_shared_port = static_cast<int>(*port);
  }
  s.status_base = [paths, config](const std::string& state) {
    return ProfileStatus::base(paths, config, state);
  };
  return s;
}

}  // namespace berth::server
