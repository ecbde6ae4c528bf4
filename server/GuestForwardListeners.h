#pragma once
// GuestForwardListeners: the forwarder's ListenerFactory for drivers that open published ports
// on the host themselves (vm::GuestPortForwarder; the qemu driver uses QEMU's hostfwd): open()
// asks the driver, and the returned Listener closes the forward when the forwarder drops it.
// Pass it as fwd::ForwarderOptions::listeners. Thread-safe as the driver's forwards are; the
// driver must outlive the forwarder's listeners.
#include <memory>

#include "forwarding/Listener.h"
#include "vm/GuestPortForwarder.h"

namespace berth::server {

class GuestForwardListeners : public fwd::ListenerFactory {
 public:
  explicit GuestForwardListeners(vm::GuestPortForwarder& driver) : driver_(driver) {}
  std::unique_ptr<fwd::Listener> open(const fwd::ForwardSpec& spec, std::string& error) override;

 private:
  vm::GuestPortForwarder& driver_;
};

}  // namespace berth::server
