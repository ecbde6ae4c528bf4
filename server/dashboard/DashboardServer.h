#pragma once
// DashboardServer: the profile's web page on host loopback (issue 17): plain HTTP on
// 127.0.0.1:PORT, guarded by DashboardAccess (token -> cookie, Host, POST + CSRF), serving the
// embedded page, JSON for the profile's status, its guest events and containers, Server-Sent
// Events for the engine's events, a container's stats and its logs, and the page's actions.
// Every engine call goes through `engine` (the relay and filters of the docker CLI's path)
// and only while `engine_up()` holds, so the page never boots a stopped guest. open/stop from
// one thread; sessions run on their own strands; the callbacks may be called from any thread.
#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "server/net/Connector.h"

namespace berth::server {

class DashboardAccess;
class TcpListener;

class DashboardServer {
 public:
  using Respond = std::function<void(int status, nlohmann::json body)>;
  struct Options {
    std::uint16_t port = 0;    // 0: any free port
    std::string token;         // the profile's secret (DashboardServer::loadToken)
    net::ConnectorPtr engine;  // the engine through berth's relay; never boots the guest
    std::function<nlohmann::json()> status;  // `berth status --json`
    std::function<bool()> engine_up;         // the guest is running: engine calls may go out
    // "start", "stop" or "restart" the guest; answers once, from any thread.
    std::function<void(const std::string& action, Respond respond)> guest_action;
    // berth's own guest events after a sequence number (GuestEventLog::since); any thread.
    std::function<nlohmann::json(std::uint64_t after)> guest_events;
  };

  DashboardServer(boost::asio::io_context& io, Options options);
  ~DashboardServer();
  // Listens on 127.0.0.1; throws std::runtime_error with one clear line (e.g. port taken).
  void open();
  void stop();
  std::uint16_t port() const;
  // http://127.0.0.1:PORT/ (with ?token=... when `with_token`).
  std::string url(bool with_token) const;

  // The profile's secret in `path` (mode 0600), made on first use. Blocking file I/O.
  static std::string loadToken(const std::string& path);
  // The port kept in `path` from an earlier run, or 0.
  static std::uint16_t loadPort(const std::string& path);
  static void savePort(const std::string& path, std::uint16_t port);

  struct Shared;  // what every session uses (DashboardServer.cc)

 private:
  boost::asio::io_context& io_;
  std::shared_ptr<Shared> shared_;
  std::shared_ptr<TcpListener> listener_;
};

}  // namespace berth::server
