#pragma once
// QmpClient: a blocking client for QEMU's machine protocol (QMP) on a unix socket. connect()
// reads the greeting and negotiates capabilities; execute() sends one command and returns its
// "return" value, skipping asynchronous events (kept for events()). Errors (socket, timeout,
// a QMP "error" reply) throw DriverError. Not thread-safe: one caller at a time per client;
// QEMU serves one QMP client per socket, so keep a client only as long as a call needs it.
#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace berth::vm {

class QmpClient {
 public:
  explicit QmpClient(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  ~QmpClient();
  QmpClient(const QmpClient&) = delete;
  QmpClient& operator=(const QmpClient&) = delete;

  void connect(const std::string& socket_path);
  nlohmann::json execute(const std::string& command,
                         const nlohmann::json& arguments = nlohmann::json::object());
  // Runs a monitor (HMP) command line, e.g. "hostfwd_add tcp:127.0.0.1:8080-:80", and returns
  // its text output; HMP reports most failures as text, so callers check it.
  std::string human(const std::string& command_line);
  // Events received so far (e.g. {"event": "SHUTDOWN", ...}).
  const std::vector<nlohmann::json>& events() const { return events_; }
  void setTimeout(std::chrono::milliseconds timeout) { timeout_ = timeout; }

 private:
  nlohmann::json readMessage();
  void writeLine(const std::string& line);

  std::chrono::milliseconds timeout_;
  int fd_ = -1;
  std::string buffer_;
  std::vector<nlohmann::json> events_;
};

}  // namespace berth::vm
