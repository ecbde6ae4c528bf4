#include "server/DriverThread.h"

#include <exception>

#include "server/net/Log.h"

namespace berth::server {

DriverThread::DriverThread() : thread_([this] { run(); }) {}

DriverThread::~DriverThread() {
  {
    std::lock_guard lock(mutex_);
    done_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void DriverThread::post(std::function<void()> task) {
  {
    std::lock_guard lock(mutex_);
    tasks_.push_back(std::move(task));
  }
  wake_.notify_all();
}

void DriverThread::run() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return done_ || !tasks_.empty(); });
      if (tasks_.empty()) return;
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    try {
      task();
    } catch (const std::exception& e) {
      BERTH_LOG(Error, "driver", e.what());
    }
  }
}

}  // namespace berth::server
