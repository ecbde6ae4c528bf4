#include "tests/server/FakeEngine.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <stdexcept>

namespace berth::test {

void FakeEngine::start() {
  ::unlink(path_.c_str());
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path_.c_str(), sizeof addr.sun_path - 1);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 128) != 0)
    throw std::runtime_error("fake engine: cannot listen on " + path_);
  listen_fd_ = fd;
  running_ = true;
  acceptor_ = std::thread([this, fd] { acceptLoop(fd); });
}

void FakeEngine::stop() {
  if (!running_.exchange(false)) return;
  {
    std::lock_guard lock(mutex_);
    ::shutdown(listen_fd_, SHUT_RDWR);
    for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
  }
  acceptor_.join();
  ::close(listen_fd_);
  listen_fd_ = -1;
  for (auto& t : connections_) t.join();
  connections_.clear();
  ::unlink(path_.c_str());
  changed_.notify_all();
}

void FakeEngine::setContainers(std::string json_array) {
  std::lock_guard lock(mutex_);
  containers_ = std::move(json_array);
}

void FakeEngine::pushEvent(const std::string& json_line) {
  std::set<int> fds;
  {
    std::lock_guard lock(mutex_);
    fds = event_fds_;
  }
  const std::string line = json_line + "\n";
  char size[32];
  std::snprintf(size, sizeof size, "%zx\r\n", line.size());
  for (int fd : fds) writeAll(fd, size + line + "\r\n");
}

bool FakeEngine::waitForEventStream() {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, std::chrono::seconds(5), [this] { return !event_fds_.empty(); });
}

void FakeEngine::acceptLoop(int listen_fd) {
  while (running_) {
    int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) return;
    std::lock_guard lock(mutex_);
    if (!running_) {
      ::close(fd);
      return;
    }
    open_fds_.insert(fd);
    connections_.emplace_back([this, fd] { serve(fd); });
  }
}

bool FakeEngine::writeAll(int fd, const std::string& data) {
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

// Requests without bodies (GET), one after another on the connection.
void FakeEngine::serve(int fd) {
  std::string buffer;
  char chunk[4096];
  bool streaming = false;
  auto read_head = [&](std::size_t& end) {
    while ((end = buffer.find("\r\n\r\n")) == std::string::npos) {
      ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
      if (n <= 0) return false;
      buffer.append(chunk, static_cast<std::size_t>(n));
    }
    return true;
  };
  std::size_t end = 0;
  while (!streaming && read_head(end)) {
    const std::string head = buffer.substr(0, end);
    buffer.erase(0, end + 4);
    const std::string line = head.substr(0, head.find("\r\n"));
    const auto sp1 = line.find(' ');
    const std::string target = line.substr(sp1 + 1, line.find(' ', sp1 + 1) - sp1 - 1);
    const std::string path = target.substr(0, target.find('?'));
    std::string body, type = "application/json";
    int status = 200;
    if (path == "/_ping") {
      body = "OK";
      type = "text/plain";
    } else if (path == "/containers/json") {
      std::lock_guard lock(mutex_);
      body = containers_;
    } else if (line.rfind("POST ", 0) == 0 && path.size() > 6 &&
               path.compare(path.size() - 6, 6, "/start") == 0) {
      starts_ += 1;  // a container start: done (nothing runs)
      body = "{}";
    } else if (path == "/events") {
      writeAll(fd,
               "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
               "Transfer-Encoding: chunked\r\n\r\n");
      {
        std::lock_guard lock(mutex_);
        event_fds_.insert(fd);
      }
      changed_.notify_all();
      streaming = true;
      continue;
    } else {
      status = 404;
      body = R"({"message":"not found"})";
    }
    const std::string reply = "HTTP/1.1 " + std::to_string(status) +
                              (status == 200 ? " OK" : " Not Found") + "\r\nContent-Type: " + type +
                              "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
                              body;
    if (!writeAll(fd, reply)) break;
    // HTTP/1.0 and "Connection: close" clients read until EOF.
    if (line.find("HTTP/1.0") != std::string::npos ||
        head.find("Connection: close") != std::string::npos ||
        head.find("connection: close") != std::string::npos)
      break;
  }
  // An event stream stays open until the client or stop() ends it.
  while (streaming && ::recv(fd, chunk, sizeof chunk, 0) > 0) {
  }
  std::lock_guard lock(mutex_);
  event_fds_.erase(fd);
  open_fds_.erase(fd);
  ::close(fd);
}

}  // namespace berth::test
