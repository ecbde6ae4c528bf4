#include "vm/QmpClient.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "vm/Driver.h"

namespace berth::vm {

QmpClient::QmpClient(std::chrono::milliseconds timeout) : timeout_(timeout) {}

QmpClient::~QmpClient() {
  if (fd_ >= 0) close(fd_);
}

void QmpClient::connect(const std::string& socket_path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof addr.sun_path)
    throw DriverError("QMP socket path too long: " + socket_path);
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw DriverError(std::string("socket: ") + std::strerror(errno));
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    throw DriverError("cannot connect to QMP at " + socket_path + ": " + std::strerror(errno));
  auto greeting = readMessage();
  if (!greeting.contains("QMP")) throw DriverError("not a QMP greeting on " + socket_path);
  execute("qmp_capabilities");
}

nlohmann::json QmpClient::execute(const std::string& command, const nlohmann::json& arguments) {
  nlohmann::json request = {{"execute", command}};
  if (!arguments.empty()) request["arguments"] = arguments;
  writeLine(request.dump() + "\n");
  for (;;) {
    auto message = readMessage();
    if (message.contains("event")) {
      events_.push_back(std::move(message));
      continue;
    }
    if (message.contains("error")) {
      throw DriverError("QMP " + command +
                        " failed: " + message["error"].value("desc", message["error"].dump()));
    }
    return message.value("return", nlohmann::json::object());
  }
}

std::string QmpClient::human(const std::string& command_line) {
  auto result = execute("human-monitor-command", {{"command-line", command_line}});
  return result.is_string() ? result.get<std::string>() : std::string();
}

void QmpClient::writeLine(const std::string& line) {
  size_t done = 0;
  while (done < line.size()) {
    ssize_t n = ::send(fd_, line.data() + done, line.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw DriverError(std::string("QMP write: ") + std::strerror(errno));
    done += static_cast<size_t>(n);
  }
}

nlohmann::json QmpClient::readMessage() {
  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  for (;;) {
    auto newline = buffer_.find('\n');
    if (newline != std::string::npos) {
      std::string line = buffer_.substr(0, newline);
      buffer_.erase(0, newline + 1);
      auto parsed = nlohmann::json::parse(line, nullptr, false);
      if (parsed.is_discarded()) throw DriverError("QMP sent invalid JSON: " + line);
      return parsed;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) throw DriverError("QMP did not answer in time");
    pollfd p{fd_, POLLIN, 0};
    int ready = poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw DriverError("QMP connection closed by QEMU");
    buffer_.append(buf, static_cast<size_t>(n));
  }
}

}  // namespace berth::vm
