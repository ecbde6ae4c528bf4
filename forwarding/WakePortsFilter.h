#pragma once
// WakePortsFilter: the "wake-ports" filter. A `berth.wake=true` container must publish fixed host
// ports, since berth holds them while it sleeps; a port the engine would choose at each start
// (`-p 80`, `-p 127.0.0.1::80`, `-P`) is unknown until then. In `POST /containers/create` with
// that label, every HostConfig.PortBindings entry without a HostPort, and with
// HostConfig.PublishAllPorts every ExposedPorts key of the body without a binding, gets a free
// host port berth picks, so the container has fixed ports from then on. Ports the image alone
// exposes are not in the body and stay the engine's choice (Forwarder logs that it cannot hold
// them). Other requests and containers pass untouched (one substring search of the body).
// One filter per request, on one strand: not thread-safe; no exceptions out.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "api/Filter.h"

namespace berth::fwd {

// A free host port for `proto` ("tcp"/"udp"), or 0 when none could be found.
using PortPicker = std::function<std::uint16_t(const std::string& proto)>;

class WakePortsFilter : public api::PassThroughFilter {
 public:
  explicit WakePortsFilter(PortPicker pick) : pick_(std::move(pick)) {}

  bool wantsRequestBody() const override { return true; }
  // A 500 reply when no free port could be found for a binding.
  std::optional<api::LocalReply> onRequestBody(std::string& body) override;

  // The daemon's picker: a port the kernel hands out for 127.0.0.1 that is free for `proto`
  // on 127.0.0.1 and ::1 (where the host has IPv6), the addresses berth holds it on.
  static std::uint16_t pickLoopbackPort(const std::string& proto);

 private:
  PortPicker pick_;
};

class WakePortsFilterFactory : public api::FilterFactory {
 public:
  static constexpr std::string_view kName = "wake-ports";

  explicit WakePortsFilterFactory(PortPicker pick) : pick_(std::move(pick)) {}
  // A filter for `POST /containers/create`, nothing for other routes.
  std::unique_ptr<api::Filter> create(const api::RequestHead& head) const override;

 private:
  PortPicker pick_;
};

}  // namespace berth::fwd
