#pragma once
// ControlServer: the profile daemon's control API on control.sock (mode 0600): one small
// HTTP/1.0 JSON exchange per connection (GET /status, POST /boot, POST /stop?force=1).
// The handler may answer later and from any thread, via `respond`, exactly once.
// open/stop from the daemon's control thread; connections run on their own strands.
#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "server/UnixListener.h"

namespace berth::server {

class ControlServer {
 public:
  using Respond = std::function<void(int status, nlohmann::json body)>;
  using Handler =
      std::function<void(const std::string& method, const std::string& target, Respond respond)>;

  ControlServer(boost::asio::io_context& io, std::string path, Handler handler);
  // Listens; throws std::runtime_error with one clear line.
  void open();
  void stop();

 private:
  boost::asio::io_context& io_;
  std::shared_ptr<Handler> handler_;
  std::shared_ptr<UnixListener> listener_;
};

}  // namespace berth::server
