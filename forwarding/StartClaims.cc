#include "forwarding/StartClaims.h"

#include <boost/asio/steady_timer.hpp>

#include "server/net/ByteStream.h"
#include "server/net/Log.h"

namespace berth::fwd {

struct StartClaims::Claim {
  explicit Claim(const boost::asio::any_io_executor& strand) : timer(strand) {}
  Claimed listeners;
  boost::asio::steady_timer timer;
};

StartClaims::StartClaims(boost::asio::any_io_executor strand)
    : strand_(std::move(strand)), self_(std::make_shared<StartClaims*>(this)) {}

StartClaims::~StartClaims() { *self_ = nullptr; }

StartClaims::Id StartClaims::add(Claimed listeners, std::chrono::milliseconds expiry) {
  const Id id = next_id_++;
  auto claim = std::make_unique<Claim>(strand_);
  claim->listeners = std::move(listeners);
  claims_.emplace(id, std::move(claim));
  expireAfter(id, expiry);
  return id;
}

std::unique_ptr<Listener> StartClaims::take(const ForwardSpec& spec) {
  for (auto it = claims_.begin(); it != claims_.end(); ++it) {
    auto& listeners = it->second->listeners;
    for (auto l = listeners.begin(); l != listeners.end(); ++l) {
      const ForwardSpec& held = l->first;
      if (held.key() != spec.key()) continue;
      std::unique_ptr<Listener> out;
      // The same forward as the running container asks for: hand it on. Otherwise (another
      // container, another target) the claim is dropped and the caller binds afresh.
      if (held.container_id == spec.container_id && held.guest_port == spec.guest_port &&
          held.guest_loopback == spec.guest_loopback) {
        out = std::move(l->second);
      }
      listeners.erase(l);
      if (listeners.empty()) claims_.erase(it);
      return out;
    }
  }
  return nullptr;
}

bool StartClaims::holds(const std::tuple<std::string, std::string, std::uint16_t>& key) const {
  for (const auto& [id, claim] : claims_) {
    for (const auto& [spec, listener] : claim->listeners) {
      if (spec.key() == key) return true;
    }
  }
  return false;
}

void StartClaims::release(Id id) { claims_.erase(id); }

void StartClaims::expireAfter(Id id, std::chrono::milliseconds after) {
  auto it = claims_.find(id);
  if (it == claims_.end()) return;
  auto& timer = it->second->timer;
  timer.expires_after(after);
  timer.async_wait([self = std::weak_ptr<StartClaims*>(self_), id](net::ErrorCode ec) {
    auto alive = self.lock();
    if (ec || !alive || !*alive) return;
    StartClaims& claims = **alive;
    auto found = claims.claims_.find(id);
    if (found == claims.claims_.end()) return;
    if (found->second->timer.expiry() > std::chrono::steady_clock::now()) return;  // re-armed
    BERTH_LOG(Info, "forwarding",
              "start claim " << id << " expired: " << found->second->listeners.size()
                             << " host port(s) released");
    claims.claims_.erase(found);
  });
}

void StartClaims::clear() { claims_.clear(); }

}  // namespace berth::fwd
