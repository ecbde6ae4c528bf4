#pragma once
// TcpForward: one host TCP listener of a forward. Accepts on the control strand, gives each
// connection its own strand and a SpliceRelay to the guest's published port; no thread per port
// or per connection. Destroying it closes the listening socket at once (new connects are
// refused) and ends its live connections. With a WakeGate (a `berth.wake=true` container), a
// connection to a container that sleeps waits until the gate woke it, and is reset if the wake
// fails. Created and destroyed on the control strand.
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "forwarding/Listener.h"

namespace berth::fwd {

class GuestNetns;
class SpliceRelay;
class WakeGate;

class TcpForward final : public Listener {
 public:
  // Binds and listens now; on failure returns null with the reason in `error`. Connections to
  // `target` are made from `netns` when that is set (a port on the guest's loopback); `gate`
  // (may be null) admits each one first, its wake probing `target` with `settle`
  // (WakeController::Target::settle).
  static std::unique_ptr<TcpForward> open(
      boost::asio::any_io_executor control, boost::asio::any_io_executor io,
      const boost::asio::ip::tcp::endpoint& bind, const boost::asio::ip::tcp::endpoint& target,
      std::shared_ptr<const GuestNetns> netns, std::shared_ptr<WakeGate> gate, std::string& error,
      std::chrono::milliseconds settle = std::chrono::milliseconds(0));
  ~TcpForward() override;

 private:
  struct State;
  explicit TcpForward(std::shared_ptr<State> state) : state_(std::move(state)) {}
  static void accept(const std::shared_ptr<State>& state);
  // Relays an accepted, non-blocking connection (on a strand of its own) to the target.
  static void relay(const std::shared_ptr<State>& state, boost::asio::ip::tcp::socket socket);
  // Through the gate first, when there is one.
  static void admit(const std::shared_ptr<State>& state, boost::asio::ip::tcp::socket socket);

  std::shared_ptr<State> state_;
};

}  // namespace berth::fwd
