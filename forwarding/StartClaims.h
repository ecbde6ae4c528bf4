#pragma once
// StartClaims: host listeners bound for a container before its start reaches the engine
// (Forwarder::claimForStart), so a port another program holds fails the start as on a Docker
// host, and no program can take the port between the start and its forward opening. A claim
// ends when the forwarder adopts its listeners (take(), at the reconcile after the container's
// start event), when the start failed (release()) or when it expires (the start never came
// through). Control strand only; not thread-safe.
#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "forwarding/ForwardSpec.h"
#include "forwarding/Listener.h"

namespace berth::fwd {

class StartClaims {
 public:
  using Id = std::uint64_t;
  using Claimed = std::vector<std::pair<ForwardSpec, std::unique_ptr<Listener>>>;

  explicit StartClaims(boost::asio::any_io_executor strand);
  ~StartClaims();
  StartClaims(const StartClaims&) = delete;
  StartClaims& operator=(const StartClaims&) = delete;

  // Holds `listeners` until taken, released or `expiry` has passed.
  Id add(Claimed listeners, std::chrono::milliseconds expiry);
  // The claimed listener for `spec` (same host listener, container and guest port), now the
  // caller's; null when there is none.
  std::unique_ptr<Listener> take(const ForwardSpec& spec);
  // True when some claim holds the host listener `key`.
  bool holds(const std::tuple<std::string, std::string, std::uint16_t>& key) const;
  void release(Id id);
  // Shortens (or extends) the life of claim `id` to `after` from now.
  void expireAfter(Id id, std::chrono::milliseconds after);
  void clear();

 private:
  struct Claim;
  boost::asio::any_io_executor strand_;
  std::map<Id, std::unique_ptr<Claim>> claims_;
  Id next_id_ = 1;
  std::shared_ptr<StartClaims*> self_;  // timers' handlers see it reset once this is gone
};

}  // namespace berth::fwd
