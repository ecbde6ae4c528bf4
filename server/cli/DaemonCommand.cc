// `berth daemon --socket PATH --upstream URL`: the relay in the foreground, in front of an
// engine that already runs (the plain relay mode): the same ProfileDaemon as a profile's, with
// an external-engine driver. With `--forward-to GUEST_IP`, ports the
// engine's containers publish are forwarded from the host to that address as well. A
// `--listen tcp://HOST:PORT` serves the same API over mutual TLS (material in --tls-dir,
// default next to the socket). With `--mount HOST[:GUEST][:w]`, bind mounts are translated
// to those shares (the "mounts" filter).
// `berth daemon --profile P`: the profile's background daemon (normally launched by
// `berth start`), see server/ProfileDaemon.h.
#include <CLI/CLI.hpp>
#include <cstdlib>
#include <functional>
#include <stdexcept>
#include <vector>

#include "forwarding/Forwarder.h"
#include "server/DaemonSettings.h"
#include "server/FdLimit.h"
#include "server/ProfileDaemon.h"
#include "server/SocketActivation.h"
#include "server/cli/Cli.h"
#include "server/cli/FlagChoices.h"
#include "server/net/IoLoop.h"
#include "server/net/IoPool.h"
#include "server/net/Log.h"
#include "vm/DriverFactory.h"
#include "vm/MountFlag.h"
#include "vm/ProfileConfig.h"
#include "vm/ProfilePaths.h"

namespace berth::cli {
namespace {

struct DaemonOptions {
  std::string profile;
  std::string socket;
  std::string upstream;
  std::vector<std::string> listen;
  std::string tls_dir;
  bool insecure = false;
  std::size_t max_connections = server::RelayLimits{}.max_connections;
  int head_timeout_seconds = static_cast<int>(server::RelayLimits{}.head_timeout.count());
  bool debug = false;
  int grace_seconds = 5;
  int io_threads = net::IoPool::defaultThreads();
  int spin_us = static_cast<int>(net::kDefaultSpin.count());
  std::string forward_to;
  std::string forward_bind = "loopback";
  std::string forward_status;
  bool no_forward_nat = false;
  std::string forward_netns;
  std::vector<std::string> mounts;  // --mount HOST[:GUEST][:w], repeatable
};

std::string upstreamSocket(const std::string& url) {
  constexpr std::string_view kUnix = "unix://";
  if (url.rfind(kUnix, 0) == 0 && url.size() > kUnix.size()) return url.substr(kUnix.size());
  throw std::runtime_error("unsupported --upstream '" + url + "': use unix:///path/to/docker.sock");
}

// The plain relay: the same ProfileDaemon as a profile's, in front of an engine berth does not
// run (an external-engine driver), with its settings taken from the flags.
int runRelay(const DaemonOptions& options) {
  vm::ExternalEngine engine;
  engine.unix_path = upstreamSocket(options.upstream);
  engine.guest_address = options.forward_to;
  engine.guest_netns = options.forward_netns;
  if (!options.mounts.empty()) {
    const char* home = std::getenv("HOME");
    engine.shares = vm::MountFlag::parseAll(options.mounts, home ? home : "");
  }
  // Refused before anything is bound, so a bad flag leaves no socket file behind.
  if (!options.forward_to.empty()) fwd::Forwarder::checkGuestAddress(options.forward_to, false);

  server::DaemonSettings settings;
  // Named after the socket: a daemon restarted on the same socket replaces its NAT table.
  settings.name = "d" + std::to_string(std::hash<std::string>{}(options.socket) % 1000000007);
  settings.docker_socket = options.socket;
  settings.translate_mounts = !options.mounts.empty();
  settings.log_file = "berth daemon's output";
  settings.limits.head_timeout = std::chrono::seconds(options.head_timeout_seconds);
  settings.limits.max_connections = server::FdLimit::capConnections(options.max_connections);
  settings.spin = std::chrono::microseconds(options.spin_us);
  settings.io_threads = options.io_threads;
  settings.grace = std::chrono::seconds(options.grace_seconds);
  settings.listen = options.listen;
  settings.tls_dir = options.tls_dir;
  if (settings.tls_dir.empty()) {
    auto slash = options.socket.rfind('/');
    settings.tls_dir =
        (slash == std::string::npos ? std::string(".") : options.socket.substr(0, slash)) + "/tls";
  }
  settings.insecure_listen = options.insecure;
  settings.forwarding.bind = fwd::parseBindMode(options.forward_bind);
  if (!options.no_forward_nat) settings.forwarding.nat = settings.name;
  settings.forward_status_file = options.forward_status;
  server::ProfileDaemon daemon(std::move(settings),
                               vm::DriverFactory::makeExternal(std::move(engine)));
  return daemon.run();
}

int runProfileDaemon(const DaemonOptions& options) {
  auto paths = vm::ProfilePaths::forProfile(options.profile);
  vm::ProfileConfig config = vm::ProfileConfig::defaults();
  config.mergeFile(vm::ProfilePaths::templateFile(paths.home_dir));
  config.mergeFile(paths.config_file);
  auto settings = server::DaemonSettings::forProfile(paths, config);
  // Started by socket activation (berth@.socket, systemd-socket-activate): the service manager
  // owns docker.sock and started us for a client that is waiting, so the guest boots on that
  // first request (and on each one after an idle stop), never before.
  settings.docker_socket_fd = server::SocketActivation::takeUnixListener(settings.docker_socket);
  if (settings.docker_socket_fd >= 0) {
    settings.lazy = true;
    BERTH_LOG(Info, "daemon",
              "socket activation: serving the passed socket " << settings.docker_socket
                                                              << "; the guest boots on demand");
  }
  server::ProfileDaemon daemon(std::move(settings), vm::DriverFactory::makeDriver(config, paths));
  return daemon.run();
}

}  // namespace

void registerDaemonCommand(CLI::App& app) {
  auto options = std::make_shared<DaemonOptions>();
  auto* cmd = app.add_subcommand("daemon", "Run the daemon in the foreground");
  auto* profile = cmd->add_option("--profile", options->profile,
                                  "Run the background daemon of this profile (berth start does)");
  auto* socket =
      cmd->add_option("--socket", options->socket, "Unix socket to serve the Docker API on");
  auto* upstream =
      cmd->add_option("--upstream", options->upstream, "Engine to relay to (unix:///path)");
  profile->excludes(socket)->excludes(upstream);
  cmd->add_option("--grace", options->grace_seconds, "Seconds in-flight requests get on SIGTERM")
      ->capture_default_str();
  cmd->add_option("--io-threads", options->io_threads,
                  "Threads serving relay connections (default: one per core, at most 2)")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  cmd->add_option("--spin-us", options->spin_us,
                  "Microseconds an I/O thread keeps polling after work before it sleeps "
                  "(lower latency per request for a little CPU; 0: never spin)")
      ->check(CLI::Range(0, 10000))
      ->capture_default_str();
  cmd->add_option("--listen", options->listen,
                  "Also serve the API on tcp://HOST:PORT, with mutual TLS (repeatable)");
  cmd->add_option("--tls-dir", options->tls_dir,
                  "Where the TLS CA and certificates for --listen live (default: "
                  "<socket dir>/tls; clients use its client/ folder as DOCKER_CERT_PATH)");
  cmd->add_flag("--insecure", options->insecure,
                "Serve --listen over plain TCP without TLS (loopback only; prints a warning)");
  cmd->add_option("--mount", options->mounts,
                  "Share HOST at GUEST (default: the same path; ':w' writable, else read-only): "
                  "bind mounts are translated to it and unshared paths refused; repeatable")
      ->type_name("HOST[:GUEST][:w]");
  cmd->add_option("--max-connections", options->max_connections,
                  "Client connections served at once; more get a 503")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  cmd->add_option("--head-timeout", options->head_timeout_seconds,
                  "Seconds a client may take to send a request head (slow clients are cut)")
      ->check(CLI::Range(1, 86400))
      ->capture_default_str();
  cmd->add_flag("--debug", options->debug, "Log every request");
  cmd->add_option("--forward-to", options->forward_to,
                  "Forward ports the engine's containers publish to this guest IP");
  FlagChoices::attach(
      cmd->add_option("--forward-bind", options->forward_bind,
                      "Host address of forwards: loopback (127.0.0.1 and ::1) or mirror (HostIp)")
          ->capture_default_str(),
      vm::ProfileConfig::choices("forwarding.bind"));
  cmd->add_option("--forward-netns", options->forward_netns,
                  "The guest's network namespace file, to forward ports published on its "
                  "loopback only (-p 127.0.0.1:P:80) and ports listening in it that no "
                  "container publishes");
  cmd->add_flag("--no-forward-nat", options->no_forward_nat,
                "Relay TCP forwards on 127.0.0.1 through berth instead of a kernel DNAT");
  cmd->add_option("--forward-status", options->forward_status,
                  "Write the forwarding status (JSON) to this file after every change");
  cmd->callback([options] {
    if (!options->profile.empty()) {
      if (options->debug) net::Log::setLevel(net::LogLevel::Debug);
      int code = runProfileDaemon(*options);
      if (code != 0) std::exit(code);
      return;
    }
    if (options->socket.empty() || options->upstream.empty()) {
      throw std::runtime_error(
          "berth daemon needs --socket PATH and --upstream unix:///PATH "
          "(or --profile NAME)");
    }
    if (options->debug) net::Log::setLevel(net::LogLevel::Debug);
    int code = runRelay(*options);
    if (code != 0) std::exit(code);
  });
}

}  // namespace berth::cli
