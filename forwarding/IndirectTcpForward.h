#pragma once
// IndirectTcpForward: a `berth.wake=true` container's TCP port where the driver opens host ports
// itself (qemu: QEMU's hostfwd, which would hold the port so that berth never sees the
// connection that wakes the container). berth listens on the spec's host address itself
// (TcpForward, with the container's WakeGate) and relays each connection to 127.0.0.1:`via`, a
// free loopback port the caller picked, which the driver's forward (the ListenerFactory: a
// hostfwd 127.0.0.1:via -> the guest's published port) carries into the guest. The driver's
// forward can be dropped and opened again while the host listener stays, so a guest that stops
// for now (and loses its forwards) keeps the port, and the connection that boots it again waits
// instead of being refused. Control strand only; not thread-safe.
#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "forwarding/ForwardSpec.h"
#include "forwarding/Listener.h"

namespace berth::fwd {

class TcpForward;
class WakeGate;

class IndirectTcpForward final : public Listener {
 public:
  // QEMU's user network accepts a host connection before the guest answered it and closes it
  // when the guest refuses (measured under TCG at load ~12: EOF after ~1 ms median, 180 ms the
  // worst of 700): a wake's probe through `via` counts once it stayed open this long, twice in
  // a row (WakeController::Target::settle).
  static constexpr std::chrono::milliseconds kSettle{200};

  // Binds spec's host address now, then asks `driver` for the forward from 127.0.0.1:via to
  // spec.guest_port; null and why in `error` when either fails at once (a driver that opens
  // later reports through its factory's failure handler, naming driverSpec()).
  static std::unique_ptr<IndirectTcpForward> open(boost::asio::any_io_executor control,
                                                  boost::asio::any_io_executor io,
                                                  const ForwardSpec& spec, std::uint16_t via,
                                                  ListenerFactory& driver,
                                                  std::shared_ptr<WakeGate> gate,
                                                  std::string& error);
  ~IndirectTcpForward() override;

  // The driver's forward this one relays through (host 127.0.0.1:via).
  const ForwardSpec& driverSpec() const { return driver_spec_; }
  // Closes the driver's forward (the guest is about to stop); the host listener stays.
  void dropDriverForward();
  // Opens it again (after the guest's next boot), when it is not open; "" or why it failed.
  std::string reopenDriverForward(ListenerFactory& driver);

 private:
  IndirectTcpForward(ForwardSpec driver_spec, std::unique_ptr<TcpForward> host);

  ForwardSpec driver_spec_;
  std::unique_ptr<TcpForward> host_;
  std::unique_ptr<Listener> driver_forward_;
};

}  // namespace berth::fwd
