#pragma once
// SessionRegistry: the live relay sessions of a server, so a graceful stop can ask each to
// finish its exchange and close. Thread-safe (a mutex; touched only on open/close/stop, never
// on the data path).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace berth::server {

class Session;

class SessionRegistry {
 public:
  void add(std::uint64_t id, const std::shared_ptr<Session>& session);
  void remove(std::uint64_t id);
  // Posts stopGracefully() to every live session on its own executor.
  void stopAll();
  std::size_t size() const;

 private:
  mutable std::mutex mutex_;
  std::unordered_map<std::uint64_t, std::weak_ptr<Session>> sessions_;
};

}  // namespace berth::server
