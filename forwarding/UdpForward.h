#pragma once
// UdpForward: one host UDP port of a forward. Each client address gets its own flow (a socket
// connected to the guest's published port), so replies find their client; a flow idle for
// 90 s is dropped (docker-proxy's rule), at most 4096 flows live (the oldest goes first).
// Replies leave from the address the client sent to, also on a wildcard bind (IP_PKTINFO /
// IPV6_PKTINFO). Datagrams move in batches (recvmmsg/sendmmsg); runs of equal-size datagrams
// towards the guest go as one UDP GSO send (UDP_SEGMENT) where the kernel allows; a full
// socket drops, as UDP may. With a WakeGate (a `berth.wake=true` container), datagrams to a
// container that sleeps stay queued in the socket until the gate woke it (dropped if the wake
// fails). Runs on the control strand; created and destroyed there.
#include <boost/asio/ip/udp.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "forwarding/Listener.h"

namespace berth::fwd {

class GuestNetns;
class WakeGate;

class UdpForward final : public Listener {
 public:
  static constexpr std::chrono::seconds kIdleExpiry{90};
  static constexpr std::size_t kMaxFlows = 4096;

  // Binds now; on failure returns null with the reason in `error`. Flows to `target` are
  // opened in `netns` when that is set (a port on the guest's loopback). `container_port` is
  // the container's own port, which a wake waits for bound (WakeGate::admitDatagrams).
  static std::unique_ptr<UdpForward> open(boost::asio::any_io_executor control,
                                          const boost::asio::ip::udp::endpoint& bind,
                                          const boost::asio::ip::udp::endpoint& target,
                                          std::shared_ptr<const GuestNetns> netns,
                                          std::shared_ptr<WakeGate> gate,
                                          std::uint16_t container_port, std::string& error);
  ~UdpForward() override;

 private:
  struct State;
  explicit UdpForward(std::shared_ptr<State> state) : state_(std::move(state)) {}
  std::shared_ptr<State> state_;
};

}  // namespace berth::fwd
