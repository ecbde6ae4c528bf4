#pragma once
// FakeEngine: a tiny Docker engine stand-in for unit tests of the daemon's lifecycle: serves
// HTTP/1.1 on a unix socket from a thread of its own (one thread per connection), answering
// GET /_ping ("OK"), GET /containers/json (a list the test sets), GET /events (a stream the
// test pushes lines into), POST /containers/{id}/start (200, counted) and 404 otherwise.
// start()/stop() may be repeated (an engine that dies and comes back). Thread-safe.
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace berth::test {

class FakeEngine {
 public:
  explicit FakeEngine(std::string socket_path) : path_(std::move(socket_path)) {}
  ~FakeEngine() { stop(); }

  void start();
  // Closes the socket and every connection (clients see EOF), and joins the threads.
  void stop();
  const std::string& path() const { return path_; }

  void setContainers(std::string json_array);
  // Sends one event line to every open /events stream.
  void pushEvent(const std::string& json_line);
  // Waits up to 5 s until an /events stream is open.
  bool waitForEventStream();
  int starts() const { return starts_; }

 private:
  void acceptLoop(int listen_fd);
  void serve(int fd);
  bool writeAll(int fd, const std::string& data);

  const std::string path_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::string containers_ = "[]";
  std::set<int> event_fds_;
  std::set<int> open_fds_;
  int listen_fd_ = -1;
  std::atomic<bool> running_{false};
  std::atomic<int> starts_{0};
  std::thread acceptor_;
  std::vector<std::thread> connections_;
};

}  // namespace berth::test
