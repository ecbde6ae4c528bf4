#pragma once
// GuestEventLog: berth's own events about the guest (booting, up, boot failed, stopping,
// stopped, idle stop), kept in order with a sequence number so a reader (the dashboard page)
// can ask for what it has not seen yet, also while the engine and its event stream are gone.
// Keeps the last `capacity` events. Thread-safe (one mutex, never held while calling out).
#include <cstdint>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

namespace berth::server {

class GuestEventLog {
 public:
  explicit GuestEventLog(std::size_t capacity = 100);

  // Records `action` ("booting", "up", ...) with a detail line for people; stamped with the
  // wall clock (seconds since the epoch, as the engine's events carry).
  void add(const std::string& action, const std::string& detail);
  // The events after sequence number `after` (0: all kept), oldest first, as JSON objects
  // {"seq", "time", "action", "detail"}; at most the last `capacity`.
  nlohmann::json since(std::uint64_t after) const;

 private:
  struct Event {
    std::uint64_t seq;
    double time;
    std::string action;
    std::string detail;
  };
  const std::size_t capacity_;
  mutable std::mutex mutex_;
  std::deque<Event> events_;
  std::uint64_t next_seq_ = 1;
};

}  // namespace berth::server
