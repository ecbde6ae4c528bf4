#include "server/SessionRegistry.h"

#include <boost/asio/post.hpp>
#include <vector>

#include "server/Session.h"

namespace berth::server {

void SessionRegistry::add(std::uint64_t id, const std::shared_ptr<Session>& session) {
  std::lock_guard lock(mutex_);
  sessions_[id] = session;
}

void SessionRegistry::remove(std::uint64_t id) {
  std::lock_guard lock(mutex_);
  sessions_.erase(id);
}

void SessionRegistry::stopAll() {
  std::vector<std::shared_ptr<Session>> live;
  {
    std::lock_guard lock(mutex_);
    for (auto& [id, weak] : sessions_) {
      if (auto s = weak.lock()) live.push_back(std::move(s));
    }
  }
  for (auto& s : live) {
    boost::asio::post(s->client().executor(), [s] { s->stopGracefully(); });
  }
}

std::size_t SessionRegistry::size() const {
  std::lock_guard lock(mutex_);
  return sessions_.size();
}

}  // namespace berth::server
