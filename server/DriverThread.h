#pragma once
// DriverThread: one thread that runs the profile driver's blocking calls (start, stop, engine
// queries) one after another, so they never run on the io_context and never overlap.
// post() is thread-safe; tasks run in order; the destructor finishes queued tasks and joins.
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace berth::server {

class DriverThread {
 public:
  DriverThread();
  ~DriverThread();
  DriverThread(const DriverThread&) = delete;
  DriverThread& operator=(const DriverThread&) = delete;

  // Queues `task`; exceptions it throws are logged and dropped.
  void post(std::function<void()> task);

 private:
  void run();

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> tasks_;
  bool done_ = false;
  std::thread thread_;
};

}  // namespace berth::server
