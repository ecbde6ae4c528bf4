// `berth daemon --socket PATH --upstream URL`: the relay in the foreground, in front of an
// engine that already runs (the plain relay mode).
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <CLI/CLI.hpp>
#include <stdexcept>
#include <thread>
#include <vector>

#include "server/RelayServer.h"
#include "server/cli/Cli.h"
#include "server/net/Log.h"
#include "server/net/UnixConnector.h"

namespace berth::cli {
namespace {

struct DaemonOptions {
  std::string socket;
  std::string upstream;
  bool debug = false;
  int grace_seconds = 5;
};

net::ConnectorPtr connectorFor(const std::string& url) {
  constexpr std::string_view kUnix = "unix://";
  if (url.rfind(kUnix, 0) == 0 && url.size() > kUnix.size()) {
    return std::make_shared<net::UnixConnector>(url.substr(kUnix.size()));
  }
  throw std::runtime_error("unsupported --upstream '" + url +
                           "': use unix:///path/to/docker.sock");
}

void runRelay(const DaemonOptions& options) {
  if (options.debug) net::Log::setLevel(net::LogLevel::Debug);
  auto config = std::make_shared<server::RelayConfig>();
  config->engine = connectorFor(options.upstream);
  config->filters = std::make_shared<api::FilterChainFactory>();

  boost::asio::io_context io;
  server::RelayServer relay(io, config);
  relay.listenUnix(options.socket);

  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](boost::system::error_code ec, int signo) {
    if (ec) return;
    BERTH_LOG(Info, "daemon", "signal " << signo << ": stopping, in-flight requests get "
                                        << options.grace_seconds << "s");
    relay.stop(std::chrono::seconds(options.grace_seconds), [&io] { io.stop(); });
  });

  // Two threads: sessions are strand-bound, so a slow one never blocks the others.
  std::vector<std::thread> workers;
  workers.emplace_back([&io] { io.run(); });
  io.run();
  for (auto& t : workers) t.join();
  BERTH_LOG(Info, "daemon", "stopped");
}

}  // namespace

void registerDaemonCommand(CLI::App& app) {
  auto options = std::make_shared<DaemonOptions>();
  auto* cmd = app.add_subcommand("daemon", "Run the daemon in the foreground");
  cmd->add_option("--socket", options->socket, "Unix socket to serve the Docker API on")
      ->required();
  cmd->add_option("--upstream", options->upstream, "Engine to relay to (unix:///path)")
      ->required();
  cmd->add_option("--grace", options->grace_seconds,
                  "Seconds in-flight requests get on SIGTERM")
      ->capture_default_str();
  cmd->add_flag("--debug", options->debug, "Log every request");
  cmd->callback([options] { runRelay(*options); });
}

}  // namespace berth::cli
