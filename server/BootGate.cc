#include "server/BootGate.h"

#include <boost/asio/post.hpp>

namespace berth::server {

BootGate::BootGate(std::function<void()> boot, std::chrono::milliseconds retry_after)
    : boot_(std::move(boot)), retry_after_(retry_after) {}

bool BootGate::startBootLocked() {
  if (state_ != State::Down) return false;
  state_ = State::Booting;
  ++boots_;
  return true;
}

void BootGate::whenUp(boost::asio::any_io_executor executor, Ready ready) {
  // Each path moves `ready` exactly once: answered now (up, or a failure still within
  // retry_after_) or queued for bootFinished. The answer is posted after the lock is released.
  std::unique_lock lock(mutex_);
  if (state_ == State::Up) {
    lock.unlock();
    boost::asio::post(executor, [ready = std::move(ready)] { ready(nullptr); });
    return;
  }
  if (state_ == State::Down && !last_error_.empty() &&
      std::chrono::steady_clock::now() - failed_at_ < retry_after_) {
    auto recent_failure = std::make_shared<std::string>(last_error_);
    lock.unlock();
    boost::asio::post(executor,
                      [ready = std::move(ready), recent_failure] { ready(recent_failure.get()); });
    return;
  }
  waiters_.push_back({executor, std::move(ready)});
  bool boot = startBootLocked();
  lock.unlock();
  if (boot) boot_();
}

void BootGate::requestBoot() {
  bool boot = false;
  {
    std::lock_guard lock(mutex_);
    boot = startBootLocked();
  }
  if (boot) boot_();
}

void BootGate::bootFinished(std::optional<std::string> error) {
  std::vector<Waiter> waiters;
  {
    std::lock_guard lock(mutex_);
    state_ = error ? State::Down : State::Up;
    last_error_ = error.value_or("");
    failed_at_ = std::chrono::steady_clock::now();
    waiters.swap(waiters_);
  }
  auto shared_error = error ? std::make_shared<std::string>(*error) : nullptr;
  for (auto& w : waiters) {
    boost::asio::post(w.executor,
                      [ready = std::move(w.ready), shared_error] { ready(shared_error.get()); });
  }
}

bool BootGate::beginStop(const std::function<bool()>& may_stop) {
  std::lock_guard lock(mutex_);
  if (state_ != State::Up || !waiters_.empty() || !may_stop()) return false;
  state_ = State::Stopping;
  return true;
}

void BootGate::stopFinished() {
  bool boot = false;
  {
    std::lock_guard lock(mutex_);
    state_ = State::Down;
    if (!waiters_.empty()) boot = startBootLocked();
  }
  if (boot) boot_();
}

BootGate::State BootGate::state() const {
  std::lock_guard lock(mutex_);
  return state_;
}

const char* BootGate::stateName(State state) {
  switch (state) {
    case State::Down:
      return "down";
    case State::Booting:
      return "booting";
    case State::Up:
      return "up";
    case State::Stopping:
      return "stopping";
  }
  return "unknown";
}

std::string BootGate::lastError() const {
  std::lock_guard lock(mutex_);
  return last_error_;
}

int BootGate::boots() const {
  std::lock_guard lock(mutex_);
  return boots_;
}

}  // namespace berth::server
