#pragma once
// StartPortGate: the RequestGate of `POST /containers/{id}/start` and `/restart`. It asks the
// forwarder to claim the container's fixed host ports before the start is relayed (fwd::Forwarder::
// claimForStart): a port another program holds answers 500 with Docker's own message and the
// engine never sees the start (a restart's message is prefixed as dockerd's is); otherwise the
// claim lives until the engine's answer says whether the container started. Thread-safe.
#include <functional>
#include <string>

#include "forwarding/Forwarder.h"
#include "server/RequestGate.h"

namespace berth::server {

class StartPortGate : public RequestGate {
 public:
  // Claims for one container (a Forwarder's claimForStart, or an empty claim when no
  // forwarder runs); `done` may run on any thread.
  using Claimer =
      std::function<void(const std::string& container, std::function<void(fwd::StartClaim)> done)>;

  explicit StartPortGate(Claimer claimer) : claimer_(std::move(claimer)) {}

  bool concerns(const api::Route& route) const override;
  void check(const api::Route& route, boost::asio::any_io_executor executor, Done done) override;

 private:
  Claimer claimer_;
};

}  // namespace berth::server
