#include "forwarding/WakeGate.h"

namespace berth::fwd {

WakeGate::WakeGate(std::string container_id, std::string name, WakeLabels labels,
                   std::shared_ptr<WakeController> controller, std::function<void()> on_change)
    : id_(std::move(container_id)),
      name_(std::move(name)),
      labels_(std::move(labels)),
      controller_(std::move(controller)),
      on_change_(std::move(on_change)) {}

bool WakeGate::admit(const boost::asio::ip::tcp::endpoint& probe,
                     std::shared_ptr<const GuestNetns> netns, Ready ready,
                     std::chrono::milliseconds settle) {
  return wakeFor({id_, name_, probe, 0, std::move(netns), settle, labels_.timeout},
                 std::move(ready));
}

bool WakeGate::admitDatagrams(std::uint16_t container_port, Ready ready) {
  return wakeFor({id_, name_, {}, container_port, nullptr, {}, labels_.timeout}, std::move(ready));
}

bool WakeGate::wakeFor(WakeController::Target target, Ready ready) {
  {
    std::lock_guard lock(mutex_);
    last_activity_ = Clock::now();
    if (running_ && waking_ == 0) return true;
    ++waking_;
  }
  if (on_change_) on_change_();
  controller_->wake(std::move(target), [self = shared_from_this(),
                                        ready = std::move(ready)](const std::string& error) {
    {
      std::lock_guard lock(self->mutex_);
      --self->waking_;
      if (error.empty()) self->running_ = true;
      self->last_activity_ = Clock::now();
    }
    if (self->on_change_) self->on_change_();
    ready(error);
  });
  return false;
}

void WakeGate::opened() {
  std::lock_guard lock(mutex_);
  ++connections_;
  last_activity_ = Clock::now();
}

void WakeGate::closed() {
  std::lock_guard lock(mutex_);
  --connections_;
  last_activity_ = Clock::now();
}

void WakeGate::touched() {
  std::lock_guard lock(mutex_);
  last_activity_ = Clock::now();
}

void WakeGate::setRunning(bool running) {
  {
    std::lock_guard lock(mutex_);
    if (running_ == running) return;
    running_ = running;
    stop_asked_ = false;
    last_activity_ = Clock::now();  // a fresh start gets a full idle period
  }
  if (on_change_) on_change_();
}

WakeGate::State WakeGate::state() const {
  std::lock_guard lock(mutex_);
  if (waking_ > 0) return State::Waking;
  return running_ ? State::Awake : State::Asleep;
}

bool WakeGate::kernelMayCarry() const {
  std::lock_guard lock(mutex_);
  return running_ && waking_ == 0 && labels_.idle.count() == 0;
}

bool WakeGate::idleExpired(Clock::time_point now) {
  std::lock_guard lock(mutex_);
  if (labels_.idle.count() == 0 || !running_ || stop_asked_ || waking_ > 0 || connections_ > 0)
    return false;
  if (now - last_activity_ < labels_.idle) return false;
  stop_asked_ = true;
  return true;
}

}  // namespace berth::fwd
