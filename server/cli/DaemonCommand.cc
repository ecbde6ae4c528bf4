// `berth daemon --socket PATH --upstream URL`: the relay in the foreground, in front of an
// engine that already runs (the plain relay mode). With `--forward-to GUEST_IP`, ports the
// engine's containers publish are forwarded from the host to that address as well. A
// `--listen tcp://HOST:PORT` serves the same API over mutual TLS (material in --tls-dir,
// default next to the socket). With `--mount HOST[:GUEST][:w]`, bind mounts are translated
// to those shares (the "mounts" filter).
// `berth daemon --profile P`: the profile's background daemon (normally launched by
// `berth start`), see server/ProfileDaemon.h.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <thread>
#include <vector>

#include "forwarding/Forwarder.h"
#include "server/FdLimit.h"
#include "server/MountSetup.h"
#include "server/ProfileDaemon.h"
#include "server/RelayServer.h"
#include "server/TcpApiAccess.h"
#include "server/cli/Cli.h"
#include "server/net/IoLoop.h"
#include "server/net/Log.h"
#include "server/net/UnixConnector.h"
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
  int io_threads = 1;
  int spin_us = static_cast<int>(net::kDefaultSpin.count());
  std::string forward_to;
  std::string forward_bind = "loopback";
  std::string forward_status;
  bool no_forward_nat = false;
  std::string forward_netns;
  std::vector<std::string> mounts;  // --mount HOST[:GUEST][:w], repeatable
};

// Writes the forwarding status where tests and scripts can read it; rename keeps it whole.
void writeStatusFile(const std::string& path, const nlohmann::json& status) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << status.dump(2) << "\n";
    if (!out) {
      BERTH_LOG(Warn, "daemon", "cannot write " << tmp);
      return;
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    BERTH_LOG(Warn, "daemon", "cannot rename " << tmp << " to " << path);
  }
}

net::ConnectorPtr connectorFor(const std::string& url) {
  constexpr std::string_view kUnix = "unix://";
  if (url.rfind(kUnix, 0) == 0 && url.size() > kUnix.size()) {
    return std::make_shared<net::UnixConnector>(url.substr(kUnix.size()));
  }
  throw std::runtime_error("unsupported --upstream '" + url + "': use unix:///path/to/docker.sock");
}

void runRelay(const DaemonOptions& options) {
  if (options.debug) net::Log::setLevel(net::LogLevel::Debug);
  auto config = std::make_shared<server::RelayConfig>();
  config->engine = connectorFor(options.upstream);
  auto filters = std::make_shared<api::FilterChainFactory>();
  if (!options.mounts.empty()) {
    const char* home = std::getenv("HOME");
    // The engine runs beside berth here: its socket path is the same in its "guest".
    server::registerMountFilter(
        *filters, vm::MountFlag::parseAll(options.mounts, home ? home : ""),
        server::engineSocket(options.socket,
                             options.upstream.substr(std::string("unix://").size())));
  }
  config->filters = filters;
  config->limits.head_timeout = std::chrono::seconds(options.head_timeout_seconds);
  config->limits.max_connections = server::FdLimit::capConnections(options.max_connections);

  fwd::ForwarderOptions forward_options;
  forward_options.bind = fwd::parseBindMode(options.forward_bind);
  forward_options.guest_netns = options.forward_netns;
  // Named after the socket: a daemon restarted on the same socket replaces its table.
  if (!options.no_forward_nat)
    forward_options.nat =
        "d" + std::to_string(std::hash<std::string>{}(options.socket) % 1000000007);

  boost::asio::io_context io;
  server::RelayServer relay(io, config);
  if (!options.listen.empty()) {
    std::string tls_dir = options.tls_dir;
    if (tls_dir.empty()) {
      auto slash = options.socket.rfind('/');
      tls_dir = (slash == std::string::npos ? std::string(".") : options.socket.substr(0, slash)) +
                "/tls";
    }
    for (const auto& env :
         server::TcpApiAccess::open(relay, options.listen, tls_dir, options.insecure)) {
      std::string line = env.exports();
      std::replace(line.begin(), line.end(), '\n', ' ');
      BERTH_LOG(Info, "daemon", "clients over TCP use: " << line);
    }
  }

  // Before the socket: a refused --forward-to must not leave a socket file behind. Nothing
  // runs until io.run().
  fwd::Forwarder forwarder(io.get_executor());
  if (!options.forward_to.empty()) {
    if (!options.forward_status.empty()) {
      forwarder.onChange([path = options.forward_status](const nlohmann::json& status) {
        writeStatusFile(path, status);
      });
    }
    forwarder.start(config->engine, options.forward_to, forward_options);
  }
  // After the TCP listeners: a refused --listen must not leave a socket file behind.
  relay.listenUnix(options.socket);

  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](boost::system::error_code ec, int signo) {
    if (ec) return;
    BERTH_LOG(Info, "daemon",
              "signal " << signo << ": stopping, in-flight requests get " << options.grace_seconds
                        << "s");
    forwarder.stop();
    relay.stop(std::chrono::seconds(options.grace_seconds), [&io] { io.stop(); });
  });

  // One I/O thread by default: the relay is syscall-bound, and a second thread on the same
  // io_context cost 2x the CPU per request in cross-thread wake-ups (tests/bench, README).
  // Sessions are strand-bound, so more threads stay correct.
  std::vector<std::thread> workers;
  // The spin only pays with one thread: with more, another thread sleeping in epoll_wait takes
  // the events the spinning one polls for (Asio lets one thread at a time wait on the reactor),
  // so spinning would burn a core for nothing.
  for (int i = 1; i < options.io_threads; ++i) workers.emplace_back([&io] { io.run(); });
  net::runIoLoop(io, std::chrono::microseconds(options.io_threads == 1 ? options.spin_us : 0));
  for (auto& t : workers) t.join();
  BERTH_LOG(Info, "daemon", "stopped");
}

int runProfileDaemon(const DaemonOptions& options) {
  if (options.debug) net::Log::setLevel(net::LogLevel::Debug);
  auto paths = vm::ProfilePaths::forProfile(options.profile);
  vm::ProfileConfig config = vm::ProfileConfig::defaults();
  config.mergeFile(vm::ProfilePaths::templateFile(paths.home_dir));
  config.mergeFile(paths.config_file);
  server::ProfileDaemon daemon(paths, config);
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
  cmd->add_option("--io-threads", options->io_threads, "Threads serving connections")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  cmd->add_option(
         "--spin-us", options->spin_us,
         "Microseconds an I/O thread keeps polling after work before it sleeps "
         "(lower latency per request for a little CPU; 0: never spin; only with one I/O thread)")
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
  cmd->add_option("--forward-bind", options->forward_bind,
                  "Host address of forwards: loopback (127.0.0.1 and ::1) or mirror (HostIp)")
      ->check(CLI::IsMember({"loopback", "mirror"}))
      ->capture_default_str();
  cmd->add_option("--forward-netns", options->forward_netns,
                  "The guest's network namespace file, to forward ports published on its "
                  "loopback only (-p 127.0.0.1:P:80)");
  cmd->add_flag("--no-forward-nat", options->no_forward_nat,
                "Relay TCP forwards on 127.0.0.1 through berth instead of a kernel DNAT");
  cmd->add_option("--forward-status", options->forward_status,
                  "Write the forwarding status (JSON) to this file after every change");
  cmd->callback([options] {
    if (!options->profile.empty()) {
      int code = runProfileDaemon(*options);
      if (code != 0) std::exit(code);
      return;
    }
    if (options->socket.empty() || options->upstream.empty()) {
      throw std::runtime_error(
          "berth daemon needs --socket PATH and --upstream unix:///PATH "
          "(or --profile NAME)");
    }
    runRelay(*options);
  });
}

}  // namespace berth::cli
