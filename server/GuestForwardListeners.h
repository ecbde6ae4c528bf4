#pragma once
// GuestForwardListeners: the forwarder's ListenerFactory for drivers that open published ports
// on the host themselves (Driver::portOpener(); qemu: QEMU's hostfwd over QMP). The opener's
// calls can wait for seconds (QMP is busy while the guest's state is saved), so they never run
// on the forwarder's strand, which is the daemon's I/O thread: open() returns at once, and the
// opens and closes run in order on a worker thread of this factory; an open that fails is
// reported through the forwarder's failure handler and becomes a conflict. Pass it as
// fwd::ForwarderOptions::listeners. A spec on the guest's loopback (guest_loopback) is first
// redirected there in the guest (PortOpener::redirectToLoopback; to a CNI hostPort's container,
// ForwardSpec::guestRedirect()), then opened like any other; closing undoes both. Such specs
// run on a second worker: a redirect is an ssh session into the guest (seconds on a TCG guest),
// which the other forwards do not wait for. Thread-safe. The opener must outlive drain() (or the
// destructor), which waits until every queued call has reached it.
#include <memory>

#include "forwarding/Listener.h"
#include "vm/PortOpener.h"

namespace berth::server {

class GuestForwardListeners : public fwd::ListenerFactory {
 public:
  explicit GuestForwardListeners(vm::PortOpener& opener);
  ~GuestForwardListeners() override;

  std::unique_ptr<fwd::Listener> open(const fwd::ForwardSpec& spec, std::string& error) override;
  void setFailureHandler(Failed failed) override;
  bool opensIpv6() const override;
  std::string refusal(const fwd::ForwardSpec& spec) const override;
  // Blocks until every open and close queued so far has reached the opener.
  void drain();

  struct Shared;

 private:
  std::shared_ptr<Shared> shared_;
};

}  // namespace berth::server
