#include "server/GuestEventLog.h"

#include <chrono>

namespace berth::server {

GuestEventLog::GuestEventLog(std::size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}

void GuestEventLog::add(const std::string& action, const std::string& detail) {
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  std::lock_guard lock(mutex_);
  events_.push_back({next_seq_++, now, action, detail});
  if (events_.size() > capacity_) events_.pop_front();
}

nlohmann::json GuestEventLog::since(std::uint64_t after) const {
  nlohmann::json list = nlohmann::json::array();
  std::lock_guard lock(mutex_);
  for (const auto& e : events_) {
    if (e.seq <= after) continue;
    list.push_back({{"seq", e.seq}, {"time", e.time}, {"action", e.action}, {"detail", e.detail}});
  }
  return list;
}

}  // namespace berth::server
