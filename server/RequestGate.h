#pragma once
// RequestGate: an asynchronous step the relay takes before it sends the request of a route the
// gate concerns (StartPortGate: a container's host ports are claimed before its start). The
// gate refuses with a Docker-shaped reply, or lets the request through with a Pass that hears
// the engine's status (a Pass dropped unheard means the exchange ended without one). The
// engine calls a gate needs run off the I/O path's critical section: check() returns at once
// and `done` runs later on the executor given. Implementations are thread-safe.
#include <boost/asio/any_io_executor.hpp>
#include <functional>
#include <memory>
#include <optional>

#include "api/Filter.h"
#include "api/Route.h"

namespace berth::server {

class RequestGate {
 public:
  class Pass {
   public:
    virtual ~Pass() = default;
    virtual void onResponse(int status) = 0;
  };
  using Done = std::function<void(std::optional<api::LocalReply> refusal, std::unique_ptr<Pass>)>;

  virtual ~RequestGate() = default;
  virtual bool concerns(const api::Route& route) const = 0;
  virtual void check(const api::Route& route, boost::asio::any_io_executor executor, Done done) = 0;
};

}  // namespace berth::server
