#pragma once
// DaemonSettings: everything a ProfileDaemon serves with, besides its Driver: where its
// sockets, lock and log are, the relay's limits, TLS listeners, boot and idle-stop policy and
// port forwarding. forProfile() derives them from a profile (`berth daemon --profile P`);
// `berth daemon --socket S --upstream U` fills them from its flags. Plain data; the empty
// string means "none" for every optional path.
#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "forwarding/Forwarder.h"
#include "server/RelayConfig.h"
#include "vm/ProfileConfig.h"
#include "vm/ProfilePaths.h"

namespace berth::server {

struct DaemonSettings {
  std::string name;            // the profile's name: log lines, the NAT table's owner
  std::string profile;         // the profile, for users' hints; "" for the plain relay
  std::string docker_socket;   // the Docker API socket
  int docker_socket_fd = -1;   // that socket already listening, passed by socket activation
  std::string control_socket;  // the control API (status, boot, stop); "" = none
  // containerd's API relayed byte for byte, when the driver's runtime serves it; "" = none.
  std::string containerd_socket;
  std::string lock_file;          // one daemon per lock (flock); "" = no lock
  std::string pid_file;           // written while the lock is held; "" = none
  std::string private_dir;        // refused unless only we can write it; "" = not checked
  std::string log_file;           // named in a failed boot's 503
  bool link_docker_sock = false;  // /var/run/docker.sock links to docker_socket (DockerSockLink)

  RelayLimits limits;
  std::chrono::microseconds spin{0};  // see net::runIoLoop; each I/O thread's
  int io_threads = 1;                 // threads serving relay connections (net::IoPool)
  std::chrono::seconds grace{2};      // in-flight requests on SIGTERM / stop
  std::vector<std::string> listen;    // tcp://HOST:PORT with mutual TLS (TcpApiAccess)
  std::string tls_dir;
  bool insecure_listen = false;

  // Bind mounts are translated to the driver's shares and unshared paths refused; off for a
  // plain relay given no --mount (it passes bind mounts as they are).
  bool translate_mounts = true;

  bool lazy = false;           // boot on the first request instead of at once
  long long idle_stop_ms = 0;  // 0: never
  std::string idle_stop;       // as written (for logs and status)

  // Published ports are forwarded when the driver has a guest address or a port opener.
  fwd::ForwarderOptions forwarding;
  std::string forward_status_file;  // the forwarding status, rewritten after every change
  // The dashboard (server/dashboard): its token and kept port live in dashboard_dir ("" = no
  // dashboard); served from the start when `dashboard`, else from the first `berth dashboard`.
  std::string dashboard_dir;
  bool dashboard = false;
  int dashboard_port = 0;  // 0: the port kept in dashboard_dir, else a free one

  // Containers by name (server/domains): the front's kept port lives in domains_dir ("" = no
  // front); other profiles' fronts are found under domains_home (<home>/<p>/domains.port).
  std::string domains_dir;
  std::string domains_home;
  bool domains = false;
  int domains_port = 0;          // the profile's own port; 0: the kept port, else a free one
  int domains_shared_port = 80;  // also held when it can be (0: never); $BERTH_DOMAINS_SHARED_PORT

  // The profile's part of `berth status --json` (ProfileStatus::base) for a guest state.
  std::function<nlohmann::json(const std::string& state)> status_base;

  static DaemonSettings forProfile(const vm::ProfilePaths& paths, const vm::ProfileConfig& config);
};

}  // namespace berth::server
