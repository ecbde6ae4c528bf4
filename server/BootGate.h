#pragma once
// BootGate: the guest's boot, shared by every request that needs the engine (DESIGN.md "Boot
// on demand"). The first whenUp() on a down guest starts one boot; every caller meanwhile
// waits on that same boot and is told the outcome on its own executor. Idle stop goes through
// beginStop()/stopFinished(), so a request that arrives during a stop boots the guest again
// afterwards. Thread-safe (one mutex, never held while calling out).
#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace berth::server {

class BootGate {
 public:
  enum class State { Down, Booting, Up, Stopping };
  // Called with nullptr once the guest is up, or with the boot's error.
  using Ready = std::function<void(const std::string* error)>;

  // `boot` starts a boot elsewhere (a worker thread) and must then call bootFinished() once.
  // For `retry_after` after a failed boot, requests get that boot's error at once instead of
  // starting another (no boot storm from a client that retries); requestBoot() always boots.
  explicit BootGate(std::function<void()> boot,
                    std::chrono::milliseconds retry_after = std::chrono::seconds(3));

  void whenUp(boost::asio::any_io_executor executor, Ready ready);
  // Starts a boot when the guest is down (berth start without --lazy); else does nothing.
  void requestBoot();
  void bootFinished(std::optional<std::string> error);
  // Up -> Stopping if `may_stop()` still holds under the gate's lock; true when it moved.
  bool beginStop(const std::function<bool()>& may_stop);
  // Stopping -> Down; when requests queued meanwhile, a new boot starts at once.
  void stopFinished();

  State state() const;
  static const char* stateName(State state);
  std::string lastError() const;
  int boots() const;  // boots started so far

 private:
  struct Waiter {
    boost::asio::any_io_executor executor;
    Ready ready;
  };
  bool startBootLocked();  // Down -> Booting; true when the caller must call boot_

  std::function<void()> boot_;
  const std::chrono::milliseconds retry_after_;
  mutable std::mutex mutex_;
  std::chrono::steady_clock::time_point failed_at_;
  State state_ = State::Down;
  std::vector<Waiter> waiters_;
  std::string last_error_;
  int boots_ = 0;
};

}  // namespace berth::server
